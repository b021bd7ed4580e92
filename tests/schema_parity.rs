//! The two migration folders, `migrations/sqlite` and `migrations/mysql`, must describe one
//! schema. A fresh database of each backend is migrated through the binary's `migrate` command,
//! then the two catalogues are read back and compared: the same tables, the same columns (name,
//! a coarse type class, nullability), the same primary keys, and the same secondary indexes
//! (name, uniqueness, columns in order). Dialect spelling (AUTOINCREMENT or AUTO_INCREMENT, an
//! inline KEY or a CREATE INDEX, ENGINE and CHARSET) does not show in a catalogue; a column or an
//! index that only one folder has does, and the failure names it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use common::{fresh_database, Backend, TestDatabase};
use sqlx::{Connection, Row};

/// What both catalogues can say about a schema, keyed by table name.
type Schema = BTreeMap<String, Table>;

#[derive(Debug, Default, Clone, PartialEq)]
struct Table {
    columns: BTreeMap<String, Column>,
    primary_key: Vec<String>,
    /// Secondary indexes by name (the primary key is compared on its own).
    indexes: BTreeMap<String, Index>,
}

#[derive(Debug, Clone, PartialEq)]
struct Column {
    class: TypeClass,
    nullable: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Index {
    unique: bool,
    columns: Vec<String>,
}

/// Types as coarse as the Any driver sees them: VARCHAR(64) and TEXT are both text, BIGINT and
/// INTEGER both integer.
#[derive(Debug, Clone, PartialEq)]
enum TypeClass {
    Integer,
    Real,
    Text,
    Blob,
    Other(String),
}

impl TypeClass {
    /// SQLite's type affinity rules, applied to the declared type.
    fn of_sqlite(declared: &str) -> TypeClass {
        let t = declared.to_ascii_uppercase();
        if t.contains("INT") {
            TypeClass::Integer
        } else if ["CHAR", "CLOB", "TEXT"].iter().any(|s| t.contains(s)) {
            TypeClass::Text
        } else if t.is_empty() || t.contains("BLOB") {
            TypeClass::Blob
        } else if ["REAL", "FLOA", "DOUB"].iter().any(|s| t.contains(s)) {
            TypeClass::Real
        } else {
            TypeClass::Other(t)
        }
    }

    /// `information_schema.columns.DATA_TYPE` of MySQL and MariaDB.
    fn of_mysql(data_type: &str) -> TypeClass {
        match data_type.to_ascii_lowercase().as_str() {
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => TypeClass::Integer,
            "float" | "double" | "real" => TypeClass::Real,
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => TypeClass::Text,
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => TypeClass::Blob,
            other => TypeClass::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match &self.class {
            TypeClass::Integer => "integer",
            TypeClass::Real => "real",
            TypeClass::Text => "text",
            TypeClass::Blob => "blob",
            TypeClass::Other(t) => t,
        };
        write!(f, "{class} {}", if self.nullable { "NULL" } else { "NOT NULL" })
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", if self.unique { "UNIQUE " } else { "" }, self.columns.join(", "))
    }
}

/// Tables that are not the application's.
fn ignored(table: &str) -> bool {
    table == "_sqlx_migrations" || table.starts_with("sqlite_")
}

async fn sqlite_schema(url: &str) -> Schema {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).expect("SQLite URL");
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("open the SQLite file");
    let mut schema = Schema::new();
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(&mut conn)
        .await
        .expect("sqlite_master");
    for name in tables.into_iter().filter(|t| !ignored(t)) {
        let mut table = Table::default();
        let mut primary_key = Vec::new();
        let columns = sqlx::query(r#"SELECT name, type, "notnull", pk FROM pragma_table_info(?)"#)
            .bind(&name)
            .fetch_all(&mut conn)
            .await
            .expect("table_info");
        for c in columns {
            let column: String = c.get("name");
            let pk: i64 = c.get("pk");
            if pk > 0 {
                primary_key.push((pk, column.clone()));
            }
            let declared: String = c.get("type");
            let not_null: i64 = c.get("notnull");
            table.columns.insert(column, Column { class: TypeClass::of_sqlite(&declared), nullable: not_null == 0 });
        }
        primary_key.sort();
        table.primary_key = primary_key.into_iter().map(|(_, c)| c).collect();
        let indexes = sqlx::query(r#"SELECT name, "unique", origin FROM pragma_index_list(?)"#)
            .bind(&name)
            .fetch_all(&mut conn)
            .await
            .expect("index_list");
        for i in indexes {
            // The index behind a PRIMARY KEY that is not a rowid alias: compared as the primary key.
            // An inline UNIQUE constraint's index ("u") stays, under its generated name, so that it
            // shows as a difference: MySQL would name it.
            if i.get::<String, _>("origin") == "pk" {
                continue;
            }
            let index: String = i.get("name");
            let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                .bind(&index)
                .fetch_all(&mut conn)
                .await
                .expect("index_info");
            table.indexes.insert(index, Index { unique: i.get::<i64, _>("unique") != 0, columns });
        }
        schema.insert(name, table);
    }
    conn.close().await.expect("close");
    schema
}

async fn mysql_schema(url: &str) -> Schema {
    let mut conn = sqlx::MySqlConnection::connect(url).await.expect("connect to MariaDB");
    let mut schema = Schema::new();
    // CASTs: information_schema's column types differ between MySQL and MariaDB versions.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.tables \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("information_schema.tables");
    for name in tables.into_iter().filter(|t| !ignored(t)) {
        schema.insert(name, Table::default());
    }
    let columns = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR) AS t, CAST(COLUMN_NAME AS CHAR) AS c, \
                CAST(DATA_TYPE AS CHAR) AS data_type, CAST(IS_NULLABLE AS CHAR) AS nullable \
         FROM information_schema.columns WHERE TABLE_SCHEMA = DATABASE()",
    )
    .fetch_all(&mut conn)
    .await
    .expect("information_schema.columns");
    for c in columns {
        let Some(table) = schema.get_mut(&c.get::<String, _>("t")) else { continue };
        let class = TypeClass::of_mysql(&c.get::<String, _>("data_type"));
        table.columns.insert(c.get("c"), Column { class, nullable: c.get::<String, _>("nullable") == "YES" });
    }
    let index_columns = sqlx::query(
        "SELECT CAST(TABLE_NAME AS CHAR) AS t, CAST(INDEX_NAME AS CHAR) AS i, \
                CAST(NON_UNIQUE AS SIGNED) AS non_unique, CAST(COLUMN_NAME AS CHAR) AS c \
         FROM information_schema.statistics WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    )
    .fetch_all(&mut conn)
    .await
    .expect("information_schema.statistics");
    for ic in index_columns {
        let Some(table) = schema.get_mut(&ic.get::<String, _>("t")) else { continue };
        let index: String = ic.get("i");
        let column: String = ic.get("c");
        if index == "PRIMARY" {
            table.primary_key.push(column);
        } else {
            let unique = ic.get::<i64, _>("non_unique") == 0;
            table.indexes.entry(index).or_insert(Index { unique, columns: Vec::new() }).columns.push(column);
        }
    }
    conn.close().await.expect("close");
    schema
}

/// Every difference between the two schemas, one line each, naming the table, column or index.
fn differences(sqlite: &Schema, mysql: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = sqlite.keys().chain(mysql.keys()).collect();
    for name in names {
        let (s, m) = match (sqlite.get(name), mysql.get(name)) {
            (Some(s), Some(m)) => (s, m),
            (Some(_), None) => {
                out.push(format!("table `{name}` exists only in SQLite"));
                continue;
            }
            (None, _) => {
                out.push(format!("table `{name}` exists only in MariaDB"));
                continue;
            }
        };
        let columns: BTreeSet<&String> = s.columns.keys().chain(m.columns.keys()).collect();
        for column in columns {
            match (s.columns.get(column), m.columns.get(column)) {
                (Some(a), Some(b)) if a != b => {
                    out.push(format!("column `{name}.{column}`: SQLite {a}, MariaDB {b}"));
                }
                (Some(a), None) => out.push(format!("column `{name}.{column}` ({a}) exists only in SQLite")),
                (None, Some(b)) => out.push(format!("column `{name}.{column}` ({b}) exists only in MariaDB")),
                _ => {}
            }
        }
        if s.primary_key != m.primary_key {
            out.push(format!(
                "primary key of `{name}`: SQLite ({}), MariaDB ({})",
                s.primary_key.join(", "),
                m.primary_key.join(", ")
            ));
        }
        let indexes: BTreeSet<&String> = s.indexes.keys().chain(m.indexes.keys()).collect();
        for index in indexes {
            match (s.indexes.get(index), m.indexes.get(index)) {
                (Some(a), Some(b)) if a != b => {
                    out.push(format!("index `{name}.{index}`: SQLite {a}, MariaDB {b}"));
                }
                (Some(a), None) => out.push(format!("index `{name}.{index}` {a} exists only in SQLite")),
                (None, Some(b)) => out.push(format!("index `{name}.{index}` {b} exists only in MariaDB")),
                _ => {}
            }
        }
    }
    out
}

/// Runs `restaurant-lottery migrate` against the database, as an operator would.
fn migrate(db: &TestDatabase) {
    let (ok, out) = db.cli(&["migrate"]);
    assert!(ok, "migrate on {:?} failed:\n{out}", db.backend);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migration_folders_build_the_same_schema() {
    let sqlite = fresh_database(Backend::Sqlite);
    let mariadb = fresh_database(Backend::MariaDb);
    migrate(&sqlite);
    migrate(&mariadb);
    let (s, m) = (sqlite_schema(&sqlite.url).await, mysql_schema(&mariadb.url).await);

    // The catalogues were really read: the tables every part of the server writes to are there.
    for table in ["users", "points_records", "lottery_draws", "products", "exchange_orders", "photo_uploads"] {
        let columns = s.get(table).map_or(0, |t| t.columns.len());
        assert!(columns > 3, "SQLite catalogue lists `{table}` with its columns: {s:?}");
    }
    let diffs = differences(&s, &m);
    assert!(
        diffs.is_empty(),
        "migrations/sqlite and migrations/mysql build different schemas ({} difference(s)):\n  - {}",
        diffs.len(),
        diffs.join("\n  - ")
    );
}

/// The comparison itself: each kind of difference is reported by name.
#[test]
fn each_difference_is_named() {
    let column = |class, nullable| Column { class, nullable };
    let mut users = Table { primary_key: vec!["id".into()], ..Table::default() };
    users.columns.insert("id".into(), column(TypeClass::Integer, false));
    users.columns.insert("phone".into(), column(TypeClass::Text, false));
    users.indexes.insert("uq_users_phone".into(), Index { unique: true, columns: vec!["phone".into()] });
    let sqlite = Schema::from([("users".to_string(), users.clone()), ("gone".to_string(), Table::default())]);
    assert!(differences(&sqlite, &sqlite).is_empty());

    let mut other = users;
    other.columns.insert("phone".into(), column(TypeClass::Integer, true));
    other.columns.insert("extra".into(), column(TypeClass::Text, true));
    other.primary_key = vec!["id".into(), "phone".into()];
    other.indexes.insert("uq_users_phone".into(), Index { unique: false, columns: vec!["phone".into()] });
    other.indexes.insert("idx_users_extra".into(), Index { unique: false, columns: vec!["extra".into()] });
    let mysql = Schema::from([("users".to_string(), other), ("new".to_string(), Table::default())]);
    assert_eq!(
        differences(&sqlite, &mysql),
        [
            "table `gone` exists only in SQLite",
            "table `new` exists only in MariaDB",
            "column `users.extra` (text NULL) exists only in MariaDB",
            "column `users.phone`: SQLite text NOT NULL, MariaDB integer NULL",
            "primary key of `users`: SQLite (id), MariaDB (id, phone)",
            "index `users.idx_users_extra` (extra) exists only in MariaDB",
            "index `users.uq_users_phone`: SQLite UNIQUE (phone), MariaDB (phone)",
        ]
    );
}

#[test]
fn type_classes_follow_each_dialect() {
    for (declared, class) in [
        ("INTEGER", TypeClass::Integer),
        ("BIGINT", TypeClass::Integer),
        ("VARCHAR(64)", TypeClass::Text),
        ("TEXT", TypeClass::Text),
        ("DOUBLE", TypeClass::Real),
        ("", TypeClass::Blob),
    ] {
        assert_eq!(TypeClass::of_sqlite(declared), class, "{declared}");
    }
    for (data_type, class) in [
        ("bigint", TypeClass::Integer),
        ("varchar", TypeClass::Text),
        ("double", TypeClass::Real),
        ("decimal", TypeClass::Other("decimal".into())),
    ] {
        assert_eq!(TypeClass::of_mysql(data_type), class, "{data_type}");
    }
}
