import java.io.Serializable;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * The Java twin of the Rust crate {@code freshet-nexmark} (crates/freshet-nexmark): the same Nexmark
 * events, bit for bit, for the Flink peer of the Nexmark benchmark. Event {@code n} is computed from
 * {@code n} alone (its SplitMix64 stream is seeded with it); the shared tables (the pool that
 * {@code extra} fields are cut from, the hot and per-channel URLs) come from fixed seeds.
 *
 * <p>Any change here must be made in the Rust crate too: {@code scripts/bench-nexmark-peer.sh}
 * compares the SHA-256 of both generators' JSON for the first 100,000 events, and the crate's test
 * {@code first_100k_events_have_the_pinned_digest} pins it. See the crate's {@code lib.rs} for where
 * both differ from the reference generators (Beam's and Flink's).
 */
public final class NexmarkGenerator implements Serializable {
  private static final long serialVersionUID = 1L;

  public static final long FIRST_PERSON_ID = 1000;
  public static final long FIRST_AUCTION_ID = 1000;
  public static final long FIRST_CATEGORY_ID = 10;
  /** 2026-01-01T00:00:00Z. */
  public static final long DEFAULT_BASE_TIME_MS = 1_767_225_600_000L;

  static final long PERSON_ID_LEAD = 10;
  static final long AUCTION_ID_LEAD = 10;
  private static final long HOT_SELLER_BATCH = 100;
  private static final long HOT_BIDDER_BATCH = 100;
  private static final long HOT_AUCTION_BATCH = 100;
  private static final long NUM_CATEGORIES = 5;
  private static final long HOT_CHANNELS_RATIO = 2;

  /** The settings; defaults as in the Rust {@code GeneratorConfig}. */
  public static final class Config implements Serializable {
    private static final long serialVersionUID = 1L;
    public long firstEventRate = 10_000_000;
    public long baseTimeMs = DEFAULT_BASE_TIME_MS;
    public long personProportion = 1;
    public long auctionProportion = 3;
    public long bidProportion = 46;
    public long avgPersonBytes = 200;
    public long avgAuctionBytes = 500;
    public long avgBidBytes = 100;
    public long hotAuctionRatio = 2;
    public long hotSellersRatio = 4;
    public long hotBiddersRatio = 4;
    public long numInFlightAuctions = 100;
    public long numActivePeople = 1000;

    long totalProportion() {
      return personProportion + auctionProportion + bidProportion;
    }

    /** base + floor(number * 1000 / rate), in integers as in Rust. */
    public long eventTimeMs(long number) {
      return baseTimeMs + number * 1000 / firstEventRate;
    }
  }

  public static final class Person {
    public long id;
    public String name;
    public String emailAddress;
    public String creditCard;
    public String city;
    public String state;
    public long dateTimeMs;
    public String extra;
  }

  public static final class Auction {
    public long id;
    public String itemName;
    public String description;
    public long initialBid;
    public long reserve;
    public long dateTimeMs;
    public long expiresMs;
    public long seller;
    public long category;
    public String extra;
  }

  public static final class Bid {
    public long auction;
    public long bidder;
    public long price;
    public String channel;
    public String url;
    public long dateTimeMs;
    public String extra;
  }

  /** One event: {@code type} 0 person, 1 auction, 2 bid, with that one field set. */
  public static final class Event {
    public int type;
    public Person person;
    public Auction auction;
    public Bid bid;
  }

  /** SplitMix64 with a scattered seed: the same three operations as the Rust {@code Random}. */
  static final class Random {
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;
    private long state;

    Random(long seed) {
      state = mix64(seed);
    }

    static long mix64(long z) {
      z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
      z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
      return z ^ (z >>> 31);
    }

    long nextLong() {
      state += GOLDEN_GAMMA;
      return mix64(state);
    }

    /** High 64 bits of the unsigned product nextLong() * bound, for 0 < bound < 2^63. */
    long below(long bound) {
      long x = nextLong();
      return Math.multiplyHigh(x, bound) + ((x >> 63) & bound);
    }

    double unit() {
      return (nextLong() >>> 11) * 0x1.0p-53;
    }
  }

  static final String[] US_STATES = {"AZ", "CA", "ID", "OR", "WA", "WY"};
  static final String[] US_CITIES = {
    "Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle",
    "Kent", "Cheyenne"
  };
  static final String[] FIRST_NAMES = {
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"
  };
  static final String[] LAST_NAMES = {
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"
  };
  static final String[] HOT_CHANNELS = {"Google", "Facebook", "Baidu", "Apple"};
  static final int CHANNELS = 10_000;
  private static final long MIN_STRING_LENGTH = 3;
  private static final int EXTRA_POOL_BYTES = 1 << 16;
  private static final long EXTRA_POOL_SEED = 0x4e45584d41524b31L; // "NEXMARK1"
  private static final long CHANNEL_SEED = 0x4e45584d41524b32L; // "NEXMARK2"

  private static final String EXTRA_POOL;
  private static final String[] HOT_URLS = new String[4];
  private static final String[] CHANNEL_NAMES = new String[CHANNELS];
  private static final String[] CHANNEL_URLS = new String[CHANNELS];

  static {
    Random random = new Random(EXTRA_POOL_SEED);
    char[] pool = new char[EXTRA_POOL_BYTES];
    for (int i = 0; i < pool.length; i++) {
      pool[i] = (char) ('a' + random.below(26));
    }
    EXTRA_POOL = new String(pool);
    random = new Random(CHANNEL_SEED);
    for (int i = 0; i < HOT_URLS.length; i++) {
      HOT_URLS[i] = baseUrl(random);
    }
    for (int n = 0; n < CHANNELS; n++) {
      String url = baseUrl(random);
      if (random.below(10) > 0) {
        url = url + "&channel_id=" + Math.abs(Integer.reverse(n));
      }
      CHANNEL_NAMES[n] = "channel-" + n;
      CHANNEL_URLS[n] = url;
    }
  }

  private static String baseUrl(Random random) {
    return "https://www.nexmark.com/"
        + randomWord(random, 5, '_') + '/'
        + randomWord(random, 5, '_') + '/'
        + randomWord(random, 5, '_') + '/'
        + "item.htm?query=1";
  }

  static String randomWord(Random random, long maxLength, char special) {
    long length = MIN_STRING_LENGTH + random.below(maxLength - MIN_STRING_LENGTH);
    StringBuilder word = new StringBuilder((int) length);
    for (long i = 0; i < length; i++) {
      if (random.below(13) == 0) {
        word.append(special);
      } else {
        word.append((char) ('a' + random.below(26)));
      }
    }
    return word.toString().trim();
  }

  static String extra(Random random, long currentSize, long averageSize) {
    if (currentSize > averageSize) {
      return "";
    }
    long shortfall = averageSize - currentSize;
    long delta = (shortfall + 2) / 5;
    long length = shortfall - delta + (delta == 0 ? 0 : random.below(2 * delta));
    length = Math.min(length, EXTRA_POOL_BYTES / 2);
    int offset = (int) random.below(EXTRA_POOL_BYTES - length);
    return EXTRA_POOL.substring(offset, offset + (int) length);
  }

  private final Config config;

  public NexmarkGenerator(Config config) {
    this.config = config;
  }

  public Config config() {
    return config;
  }

  /** Event {@code number}. */
  public Event event(long number) {
    Random random = new Random(number);
    long time = config.eventTimeMs(number);
    long total = config.totalProportion();
    long block = number / total;
    long offset = number % total;
    long blockFirstPerson = block * config.personProportion;
    long blockFirstAuction = block * config.auctionProportion;
    Event event = new Event();
    if (offset < config.personProportion) {
      event.type = 0;
      event.person = person(random, blockFirstPerson + offset, time);
      return event;
    }
    long lastPerson = blockFirstPerson + config.personProportion - 1;
    long auctionOffset = offset - config.personProportion;
    if (auctionOffset < config.auctionProportion) {
      event.type = 1;
      event.auction = auction(random, number, blockFirstAuction + auctionOffset, lastPerson, time);
    } else {
      event.type = 2;
      long lastAuction = blockFirstAuction + config.auctionProportion - 1;
      event.bid = bid(random, lastAuction, lastPerson, time);
    }
    return event;
  }

  private Person person(Random random, long id, long time) {
    Person p = new Person();
    p.id = FIRST_PERSON_ID + id;
    p.name = FIRST_NAMES[(int) random.below(FIRST_NAMES.length)]
        + " " + LAST_NAMES[(int) random.below(LAST_NAMES.length)];
    p.emailAddress = randomWord(random, 7, ' ') + "@" + randomWord(random, 5, ' ') + ".com";
    StringBuilder card = new StringBuilder(19);
    for (int group = 0; group < 4; group++) {
      if (group > 0) {
        card.append(' ');
      }
      long digits = random.below(10_000);
      for (long divisor = 1000; divisor > 0; divisor /= 10) {
        card.append((char) ('0' + digits / divisor % 10));
      }
    }
    p.creditCard = card.toString();
    p.city = US_CITIES[(int) random.below(US_CITIES.length)];
    p.state = US_STATES[(int) random.below(US_STATES.length)];
    long size = 8 + p.name.length() + p.emailAddress.length() + p.creditCard.length()
        + p.city.length() + p.state.length();
    p.dateTimeMs = time;
    p.extra = extra(random, size, config.avgPersonBytes);
    return p;
  }

  private Auction auction(Random random, long number, long id, long lastPerson, long time) {
    Auction a = new Auction();
    a.id = FIRST_AUCTION_ID + id;
    long seller = random.below(config.hotSellersRatio) > 0
        ? (lastPerson / HOT_SELLER_BATCH) * HOT_SELLER_BATCH
        : recentPerson(random, lastPerson);
    a.seller = FIRST_PERSON_ID + seller;
    a.category = FIRST_CATEGORY_ID + random.below(NUM_CATEGORIES);
    a.initialBid = price(random);
    long eventsForAuctions =
        config.numInFlightAuctions * config.totalProportion() / config.auctionProportion;
    long horizon = config.eventTimeMs(number + eventsForAuctions) - time;
    a.expiresMs = time + 1 + random.below(Math.max(horizon * 2, 1));
    a.itemName = randomWord(random, 20, ' ');
    a.description = randomWord(random, 100, ' ');
    a.reserve = a.initialBid + price(random);
    long size = 8 + a.itemName.length() + a.description.length() + 8 + 8 + 8 + 8 + 8;
    a.dateTimeMs = time;
    a.extra = extra(random, size, config.avgAuctionBytes);
    return a;
  }

  private Bid bid(Random random, long lastAuction, long lastPerson, long time) {
    Bid b = new Bid();
    long auction;
    if (random.below(config.hotAuctionRatio) > 0) {
      auction = (lastAuction / HOT_AUCTION_BATCH) * HOT_AUCTION_BATCH;
    } else {
      long oldest = Math.max(lastAuction - config.numInFlightAuctions, 0);
      auction = oldest + random.below(lastAuction - oldest + 1 + AUCTION_ID_LEAD);
    }
    b.auction = FIRST_AUCTION_ID + auction;
    long bidder = random.below(config.hotBiddersRatio) > 0
        ? (lastPerson / HOT_BIDDER_BATCH) * HOT_BIDDER_BATCH + 1
        : recentPerson(random, lastPerson);
    b.bidder = FIRST_PERSON_ID + bidder;
    b.price = price(random);
    if (random.below(HOT_CHANNELS_RATIO) > 0) {
      int i = (int) random.below(HOT_CHANNELS.length);
      b.channel = HOT_CHANNELS[i];
      b.url = HOT_URLS[i];
    } else {
      int n = (int) random.below(CHANNELS);
      b.channel = CHANNEL_NAMES[n];
      b.url = CHANNEL_URLS[n];
    }
    b.dateTimeMs = time;
    b.extra = extra(random, 8 + 8 + 8 + 8, config.avgBidBytes);
    return b;
  }

  private long recentPerson(Random random, long lastPerson) {
    long people = lastPerson + 1;
    long active = Math.min(people, config.numActivePeople);
    return people - active + random.below(active + PERSON_ID_LEAD);
  }

  private static long price(Random random) {
    return (long) (Math.pow(10.0, random.unit() * 6.0) * 100.0 + 0.5);
  }

  // ---- JSON, in the layout of Flink's Nexmark table (for the comparison with the Rust crate) ----

  private static final DateTimeFormatter SQL_TIMESTAMP =
      DateTimeFormatter.ofPattern("uuuu-MM-dd HH:mm:ss.SSS").withZone(ZoneOffset.UTC);

  /** Appends the event's JSON object, as the Rust {@code Event::write_json} writes it. */
  public static void appendJson(Event e, StringBuilder out) {
    out.append("{\"event_type\":").append(e.type).append(",\"person\":");
    if (e.person == null) {
      out.append("null");
    } else {
      Person p = e.person;
      out.append("{\"id\":").append(p.id);
      field(out, "name", p.name);
      field(out, "emailAddress", p.emailAddress);
      field(out, "creditCard", p.creditCard);
      field(out, "city", p.city);
      field(out, "state", p.state);
      time(out, "dateTime", p.dateTimeMs);
      field(out, "extra", p.extra);
      out.append('}');
    }
    out.append(",\"auction\":");
    if (e.auction == null) {
      out.append("null");
    } else {
      Auction a = e.auction;
      out.append("{\"id\":").append(a.id);
      field(out, "itemName", a.itemName);
      field(out, "description", a.description);
      out.append(",\"initialBid\":").append(a.initialBid);
      out.append(",\"reserve\":").append(a.reserve);
      time(out, "dateTime", a.dateTimeMs);
      time(out, "expires", a.expiresMs);
      out.append(",\"seller\":").append(a.seller);
      out.append(",\"category\":").append(a.category);
      field(out, "extra", a.extra);
      out.append('}');
    }
    out.append(",\"bid\":");
    if (e.bid == null) {
      out.append("null");
    } else {
      Bid b = e.bid;
      out.append("{\"auction\":").append(b.auction);
      out.append(",\"bidder\":").append(b.bidder);
      out.append(",\"price\":").append(b.price);
      field(out, "channel", b.channel);
      field(out, "url", b.url);
      time(out, "dateTime", b.dateTimeMs);
      field(out, "extra", b.extra);
      out.append('}');
    }
    out.append('}');
  }

  private static void time(StringBuilder out, String name, long ms) {
    out.append(",\"").append(name).append("\":\"")
        .append(SQL_TIMESTAMP.format(Instant.ofEpochMilli(ms))).append('"');
  }

  private static void field(StringBuilder out, String name, String value) {
    out.append(",\"").append(name).append("\":\"");
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        default:
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
      }
    }
    out.append('"');
  }
}
