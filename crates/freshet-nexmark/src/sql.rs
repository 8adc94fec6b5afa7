//! The Flink SQL of the Nexmark benchmark as Flink's Nexmark repository runs it
//! (`nexmark-flink/src/main/resources/queries/`): the source table, the three views over it, and
//! queries q0, q1, q2, q3, q4, q5, q7, q8 and q11, each with the columns of its sink table.

/// Name of the source table that the views read.
pub const NEXMARK_TABLE: &str = "datagen";

/// Stands for the `WITH` options in [`NEXMARK_DDL`]; see [`nexmark_ddl`].
pub const WITH_PLACEHOLDER: &str = "${WITH}";

/// The source table: one row per event, `event_type` saying which of the three ROW columns is set,
/// a computed event time and a watermark 4 s behind it (Flink's `ddl_gen.sql`).
pub const NEXMARK_DDL: &str = "CREATE TABLE datagen (
    event_type int,
    person ROW<
        id  BIGINT,
        name  VARCHAR,
        emailAddress  VARCHAR,
        creditCard  VARCHAR,
        city  VARCHAR,
        state  VARCHAR,
        `dateTime` TIMESTAMP(3),
        extra  VARCHAR>,
    auction ROW<
        id  BIGINT,
        itemName  VARCHAR,
        description  VARCHAR,
        initialBid  BIGINT,
        reserve  BIGINT,
        `dateTime`  TIMESTAMP(3),
        expires  TIMESTAMP(3),
        seller  BIGINT,
        category  BIGINT,
        extra  VARCHAR>,
    bid ROW<
        auction  BIGINT,
        bidder  BIGINT,
        price  BIGINT,
        channel  VARCHAR,
        url  VARCHAR,
        `dateTime`  TIMESTAMP(3),
        extra  VARCHAR>,
    `dateTime` AS
        CASE
            WHEN event_type = 0 THEN person.`dateTime`
            WHEN event_type = 1 THEN auction.`dateTime`
            ELSE bid.`dateTime`
        END,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
    ${WITH}
)";

/// [`NEXMARK_DDL`] with `with_options` (e.g. `'connector' = 'kinesis', ...`) in its `WITH` clause.
pub fn nexmark_ddl(with_options: &str) -> String {
    NEXMARK_DDL.replace(WITH_PLACEHOLDER, with_options)
}

/// `CREATE VIEW person`, `auction` and `bid` (Flink's `ddl_views.sql`): each the rows of one event
/// type, with the table's computed `dateTime` (the rowtime attribute) in place of the row's own.
pub const NEXMARK_VIEWS: [&str; 3] = [
    "CREATE VIEW person AS
SELECT
    person.id,
    person.name,
    person.emailAddress,
    person.creditCard,
    person.city,
    person.state,
    `dateTime`,
    person.extra
FROM datagen WHERE event_type = 0",
    "CREATE VIEW auction AS
SELECT
    auction.id,
    auction.itemName,
    auction.description,
    auction.initialBid,
    auction.reserve,
    `dateTime`,
    auction.expires,
    auction.seller,
    auction.category,
    auction.extra
FROM datagen WHERE event_type = 1",
    "CREATE VIEW bid AS
SELECT
    bid.auction,
    bid.bidder,
    bid.price,
    bid.channel,
    bid.url,
    `dateTime`,
    bid.extra
FROM datagen WHERE event_type = 2",
];

/// One Nexmark query: its name (`q5`), the columns of its sink table `nexmark_q5`, and the query
/// whose rows go into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NexmarkQuery {
    pub name: &'static str,
    pub sink_columns: &'static str,
    pub select: &'static str,
}

impl NexmarkQuery {
    /// `nexmark_<name>`, the sink table's name.
    pub fn sink_table(&self) -> String {
        format!("nexmark_{}", self.name)
    }

    /// `CREATE TABLE nexmark_<name> (<columns>) WITH (<with_options>)`; Flink's benchmark uses
    /// `'connector' = 'blackhole'`.
    pub fn sink_ddl(&self, with_options: &str) -> String {
        format!(
            "CREATE TABLE {} (\n{}\n) WITH (\n    {with_options}\n)",
            self.sink_table(),
            self.sink_columns
        )
    }

    /// `INSERT INTO nexmark_<name> <select>`.
    pub fn insert(&self) -> String {
        format!("INSERT INTO {}\n{}", self.sink_table(), self.select)
    }
}

/// The query named `name` (`"q5"`).
pub fn query(name: &str) -> Option<&'static NexmarkQuery> {
    QUERIES.iter().find(|q| q.name == name)
}

/// q0, q1, q2, q3, q4, q5, q7, q8 and q11, as in Flink's Nexmark repository (q7 selects price before
/// bidder into a sink declared bidder-then-price: both are BIGINT, and that is how Flink runs it).
pub const QUERIES: &[NexmarkQuery] = &[
    NexmarkQuery {
        name: "q0",
        sink_columns: "  auction  BIGINT,
  bidder  BIGINT,
  price  BIGINT,
  `dateTime`  TIMESTAMP(3),
  extra  VARCHAR",
        select: "SELECT auction, bidder, price, `dateTime`, extra FROM bid",
    },
    NexmarkQuery {
        name: "q1",
        sink_columns: "  auction  BIGINT,
  bidder  BIGINT,
  price  DECIMAL(23, 3),
  `dateTime`  TIMESTAMP(3),
  extra  VARCHAR",
        select: "SELECT
    auction,
    bidder,
    0.908 * price as price, -- convert dollar to euro
    `dateTime`,
    extra
FROM bid",
    },
    NexmarkQuery {
        name: "q2",
        sink_columns: "  auction  BIGINT,
  price  BIGINT",
        select: "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0",
    },
    NexmarkQuery {
        name: "q3",
        sink_columns: "  name  VARCHAR,
  city  VARCHAR,
  state  VARCHAR,
  id  BIGINT",
        select: "SELECT
    P.name, P.city, P.state, A.id
FROM
    auction AS A INNER JOIN person AS P on A.seller = P.id
WHERE
    A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')",
    },
    NexmarkQuery {
        name: "q4",
        sink_columns: "  id BIGINT,
  final BIGINT",
        select: "SELECT
    Q.category,
    AVG(Q.final)
FROM (
    SELECT MAX(B.price) AS final, A.category
    FROM auction A, bid B
    WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires
    GROUP BY A.id, A.category
) Q
GROUP BY Q.category",
    },
    NexmarkQuery {
        name: "q5",
        sink_columns: "  auction  BIGINT,
  num  BIGINT",
        select: "SELECT AuctionBids.auction, AuctionBids.num
 FROM (
   SELECT
     auction,
     count(*) AS num,
     window_start AS starttime,
     window_end AS endtime
     FROM TABLE(
             HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
     GROUP BY auction, window_start, window_end
 ) AS AuctionBids
 JOIN (
   SELECT
     max(CountBids.num) AS maxn,
     CountBids.starttime,
     CountBids.endtime
   FROM (
     SELECT
       count(*) AS num,
       window_start AS starttime,
       window_end AS endtime
     FROM TABLE(
                HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
     GROUP BY auction, window_start, window_end
     ) AS CountBids
   GROUP BY CountBids.starttime, CountBids.endtime
 ) AS MaxBids
 ON AuctionBids.starttime = MaxBids.starttime AND
    AuctionBids.endtime = MaxBids.endtime AND
    AuctionBids.num >= MaxBids.maxn",
    },
    NexmarkQuery {
        name: "q7",
        sink_columns: "  auction  BIGINT,
  bidder  BIGINT,
  price  BIGINT,
  `dateTime`  TIMESTAMP(3),
  extra  VARCHAR",
        select: "SELECT B.auction, B.price, B.bidder, B.`dateTime`, B.extra
from bid B
JOIN (
  SELECT MAX(price) AS maxprice, window_end as `dateTime`
  FROM TABLE(
          TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
WHERE B.`dateTime` BETWEEN B1.`dateTime`  - INTERVAL '10' SECOND AND B1.`dateTime`",
    },
    NexmarkQuery {
        name: "q8",
        sink_columns: "  id  BIGINT,
  name  VARCHAR,
  stime  TIMESTAMP(3)",
        select: "SELECT P.id, P.name, P.starttime
FROM (
  SELECT id, name,
        window_start AS starttime,
        window_end AS endtime
  FROM TABLE(
            TUMBLE(TABLE person, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
  GROUP BY id, name, window_start, window_end
) P
JOIN (
  SELECT seller,
        window_start AS starttime,
        window_end AS endtime
  FROM TABLE(
        TUMBLE(TABLE auction, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
  GROUP BY seller, window_start, window_end
) A
ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime",
    },
    NexmarkQuery {
        name: "q11",
        sink_columns: "  bidder BIGINT,
  bid_count BIGINT,
  starttime TIMESTAMP(3),
  endtime TIMESTAMP(3)",
        select: "SELECT
    B.bidder,
    count(*) as bid_count,
    SESSION_START(B.`dateTime`, INTERVAL '10' SECOND) as starttime,
    SESSION_END(B.`dateTime`, INTERVAL '10' SECOND) as endtime
FROM bid B
GROUP BY B.bidder, SESSION(B.`dateTime`, INTERVAL '10' SECOND)",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_assembled() {
        let ddl = nexmark_ddl("'connector' = 'blackhole'");
        assert!(ddl.ends_with("WITH (\n    'connector' = 'blackhole'\n)"));
        assert!(!ddl.contains(WITH_PLACEHOLDER));
        let q2 = query("q2").unwrap();
        assert_eq!(
            q2.insert(),
            "INSERT INTO nexmark_q2\nSELECT auction, price FROM bid WHERE MOD(auction, 123) = 0"
        );
        assert!(
            q2.sink_ddl("'connector' = 'blackhole'")
                .starts_with("CREATE TABLE nexmark_q2 (\n  auction  BIGINT,")
        );
        let names: Vec<_> = QUERIES.iter().map(|q| q.name).collect();
        assert_eq!(
            names,
            ["q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11"]
        );
        assert!(
            NEXMARK_VIEWS
                .iter()
                .all(|v| v.contains(&format!("FROM {NEXMARK_TABLE} WHERE")))
        );
    }
}
