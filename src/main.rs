//! The `restaurant-lottery` binary: a thin command line over the library, so the tests and
//! benches can build exactly the same server through `Application::build`.

use std::io::BufRead;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use restaurant_lottery::app::shutdown_signal;
use restaurant_lottery::auth::passwords;
use restaurant_lottery::domain::time::now_ms;
use restaurant_lottery::store::Store;
use restaurant_lottery::{telemetry, Application, Config};

// glibc's malloc spent about a fifth of the server's CPU under a draw burst (perf, see
// BENCHMARKS.md); mimalloc is the allocator for the whole binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "restaurant-lottery", version, about = "Realtime points-and-lottery server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Check every ledger invariant; exit 1 and name the subject on any violation.
    Reconcile,
    /// Seed the demo wheel and the demo shop into a database that has none.
    SeedDemo,
    /// Create an admin account, or reset its password. The password comes from --password or stdin.
    CreateAdmin {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_tracing(config.log_format);
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(&config).await,
        Command::Reconcile => return reconcile(&config).await,
        Command::SeedDemo => seed_demo(&config).await,
        Command::CreateAdmin { username, password } => create_admin(&config, username, password).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, "listening");
    // A plain line on stdout that scripts and the test harness wait for.
    println!("listening on http://{addr}");
    app.run_until_stopped(shutdown_signal()).await
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url, 4).await?;
    store.migrate().await?;
    Ok(store)
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    open_store(config).await?;
    println!("migrations applied");
    Ok(())
}

async fn seed_demo(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    if store.seed_demo_wheel(now_ms()).await? {
        println!("seeded the demo wheel");
    } else {
        println!("a wheel is already configured; left it as it is");
    }
    if store.seed_demo_shop(now_ms()).await? {
        println!("seeded the demo shop");
    } else {
        println!("the shop already has products; left them as they are");
    }
    Ok(())
}

async fn reconcile(config: &Config) -> ExitCode {
    let report = match open_store(config).await {
        Ok(store) => store.reconcile().await,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match report {
        Ok(r) => {
            println!(
                "checked {} users and {} ledger rows: {} violation(s)",
                r.users_checked,
                r.ledger_rows_checked,
                r.violations.len()
            );
            for v in &r.violations {
                println!("VIOLATION {}: {}", v.subject, v.problem);
            }
            if r.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn create_admin(config: &Config, username: String, password: Option<String>) -> anyhow::Result<()> {
    let username = username.trim().to_string();
    anyhow::ensure!(
        (3..=64).contains(&username.chars().count()) && !username.chars().any(char::is_control),
        "the username must be 3-64 characters"
    );
    let password = match password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    anyhow::ensure!(password.chars().count() >= 8, "the password must be at least 8 characters");
    let hash = passwords::hash(&password)?;
    let store = open_store(config).await?;
    let id = store.upsert_admin(&username, &hash, now_ms()).await?;
    println!("admin {username} ready (id {id})");
    Ok(())
}
