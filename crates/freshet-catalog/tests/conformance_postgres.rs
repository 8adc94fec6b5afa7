//! The PostgreSQL catalog passes the catalog conformance suite against a real server, and keeps
//! leases exclusive when several nodes share one database.

use std::collections::BTreeMap;

use freshet_catalog::conformance::CatalogStore;
use freshet_catalog::{Catalog, CatalogError, Lease};

/// One database of its own per test, connected to again on each call.
struct PostgresDatabase(tokio::sync::OnceCell<String>);

impl PostgresDatabase {
    fn new() -> PostgresDatabase {
        PostgresDatabase(tokio::sync::OnceCell::new())
    }
}

impl CatalogStore for PostgresDatabase {
    async fn open(&self) -> Catalog {
        let url = self.0.get_or_init(freshet_testkit::postgres_database).await;
        Catalog::open_postgres(url)
            .await
            .expect("the catalog opens")
    }
}

freshet_catalog::catalog_conformance_suite!(PostgresDatabase::new());

/// Two nodes (two pools on one database) racing for the same leases at the same instant: each
/// lease goes to exactly one of them, and once it changes hands the old holder's writes are fenced.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_nodes_never_share_a_lease_and_a_takeover_fences_the_old_holder() {
    let url = freshet_testkit::postgres_database().await;
    let (a, b) = tokio::join!(Catalog::open_postgres(&url), Catalog::open_postgres(&url));
    let (a, b) = (a.unwrap(), b.unwrap());

    for round in 0..50 {
        let name = format!("worker/{round}");
        let race = |catalog: Catalog, holder: &'static str| {
            let name = name.clone();
            tokio::spawn(async move {
                catalog
                    .acquire_lease(&name, holder, 1_000, 10_000)
                    .await
                    .unwrap()
            })
        };
        let (got_a, got_b) = tokio::join!(race(a.clone(), "node-a"), race(b.clone(), "node-b"));
        let winners: Vec<Lease> = [got_a.unwrap(), got_b.unwrap()]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(winners[0].epoch, 1);
    }

    let uid = a.create_delivery_stream("d", 1, "{}").await.unwrap();
    let old = a
        .acquire_lease("delivery/d", "node-a", 1_000, 10_000)
        .await
        .unwrap()
        .expect("a free lease is taken");
    a.put_checkpoint(uid, "log", "5", Some(&old)).await.unwrap();
    let new = b
        .acquire_lease("delivery/d", "node-b", 11_000, 10_000)
        .await
        .unwrap()
        .expect("an expired lease is taken over");
    assert_eq!(new.epoch, 2);
    assert!(matches!(
        a.put_checkpoint(uid, "log", "9", Some(&old)).await,
        Err(CatalogError::Fenced {
            held: 1,
            current: 2,
            ..
        })
    ));
    let checkpoints = |catalog: Catalog| async move {
        catalog.load_delivery_streams().await.unwrap()[0]
            .checkpoints
            .clone()
    };
    let expected = BTreeMap::from([("log".to_string(), "5".to_string())]);
    assert_eq!(checkpoints(a.clone()).await, expected);
    assert_eq!(checkpoints(b.clone()).await, expected);
}
