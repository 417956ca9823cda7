//! esdsl in a tokio service: an axum inventory API.
//!
//! `http-service <data dir> [address]` (address default `127.0.0.1:3000`):
//!
//! - `POST /items/{sku}` with `{"command":"receive","quantity":5}` or `{"command":"ship",...}`:
//!   200 with the version and global position; a refusal is 409 (out of stock) or 422;
//! - `GET /items/{sku}` (the aggregate, loaded) and `GET /items/{sku}/at/{version}` (time travel);
//! - `GET /stock/{sku}?after={position}`: the read model, once the projection has reached the
//!   position a command returned (read-your-writes; 504 if it does not within 5 s);
//! - `GET /stock?after={sku}&limit={n}`: a page of the read model;
//! - `GET /status`: the store's head and the projection's checkpoint.
//!
//! SIGTERM or Ctrl-C: stop taking requests, finish those in flight, stop the projection, exit 0.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::projection::{
    Page, ProjectionOptions, ReadModelView, Stop, StoreRunner, StoreStatus, projection_checkpoint,
    wait_for_checkpoint_async,
};
use esdsl_runtime::{ExecuteError, Repository, SnapshotPolicy};
use serde::Deserialize;
use serde_json::json;

mod inventory;

use inventory::{Command, Item, ItemId, Refused, STOCK, Stock, StockProjection};

/// What every handler shares: cheap clones of the repository and the read model's view.
#[derive(Clone)]
struct App {
    items: Repository<Item>,
    stock: ReadModelView<LmdbStore>,
}

/// How long a read waits for the projection to reach the caller's write.
const READ_YOUR_WRITES: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = args
        .next()
        .ok_or("usage: http-service <data dir> [address]")?;
    let address = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());

    let store = LmdbStore::open(&data)?;
    let items = Repository::<Item>::new(store.clone())?.with_snapshots(SnapshotPolicy::Every(50));
    let stock = ReadModelView::new(&store, STOCK);

    // The projection runs on tokio's blocking pool until `stop` is asked.
    let stop = Stop::new(&store);
    let projection =
        StoreRunner::new(store.clone(), StockProjection, ProjectionOptions::default())?
            .spawn(&stop);

    let app = Router::new()
        .route("/items/{sku}", get(load).post(execute))
        .route("/items/{sku}/at/{version}", get(load_at))
        .route("/stock", get(stock_page))
        .route("/stock/{sku}", get(stock_of))
        .route("/status", get(status))
        .with_state(App { items, stock });
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    stop.stop();
    let report = projection.await??;
    println!(
        "stopped cleanly: the projection handled {} events",
        report.handled
    );
    Ok(())
}

/// SIGTERM (or Ctrl-C).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// An error as a JSON body with its status.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<esdsl_runtime::Error> for Failure {
    fn from(error: esdsl_runtime::Error) -> Self {
        Failure(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
    }
}

/// A command's failure mapped without matching the store's errors.
impl From<ExecuteError<Refused>> for Failure {
    fn from(error: ExecuteError<Refused>) -> Self {
        let status = match error.refusal() {
            Some(Refused::OutOfStock { .. }) => StatusCode::CONFLICT,
            Some(Refused::NoQuantity) => StatusCode::UNPROCESSABLE_ENTITY,
            None if error.is_conflict() => StatusCode::SERVICE_UNAVAILABLE,
            None if error.is_invalid_input() => StatusCode::BAD_REQUEST,
            None => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure(status, error.to_string())
    }
}

async fn execute(
    State(app): State<App>,
    Path(sku): Path<String>,
    Json(command): Json<Command>,
) -> Result<Json<serde_json::Value>, Failure> {
    let done = app.items.execute_async(&ItemId(sku), &command).await?;
    Ok(Json(json!({
        "version": done.version,
        "position": done.position,
        "on_hand": done.state.on_hand,
        "retries": done.retries,
    })))
}

async fn load(
    State(app): State<App>,
    Path(sku): Path<String>,
) -> Result<Json<serde_json::Value>, Failure> {
    let loaded = app.items.load_async(&ItemId(sku)).await?;
    Ok(Json(
        json!({ "version": loaded.version, "on_hand": loaded.state.on_hand }),
    ))
}

async fn load_at(
    State(app): State<App>,
    Path((sku, version)): Path<(String, u64)>,
) -> Result<Json<serde_json::Value>, Failure> {
    let loaded = app.items.load_at_async(&ItemId(sku), version).await?;
    Ok(Json(
        json!({ "version": loaded.version, "on_hand": loaded.state.on_hand }),
    ))
}

#[derive(Deserialize)]
struct After {
    /// A position a command returned: wait until the read model has it.
    after: Option<u64>,
}

async fn stock_of(
    State(app): State<App>,
    Path(sku): Path<String>,
    Query(query): Query<After>,
) -> Result<Json<Stock>, Failure> {
    if let Some(position) = query.after {
        let reached =
            wait_for_checkpoint_async(app.items.store(), STOCK, position, READ_YOUR_WRITES).await?;
        if !reached {
            let message = format!("the read model has not reached position {position} yet");
            return Err(Failure(StatusCode::GATEWAY_TIMEOUT, message));
        }
    }
    match app.stock.get_json_async::<Stock>(&sku).await? {
        Some(stock) => Ok(Json(stock)),
        None => Err(Failure(StatusCode::NOT_FOUND, format!("no item `{sku}`"))),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    after: Option<String>,
    limit: Option<usize>,
}

async fn stock_page(
    State(app): State<App>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<Stock>>, Failure> {
    let limit = query.limit.unwrap_or(100).min(1_000);
    let page = app
        .stock
        .page_json_async(query.after.as_deref(), limit)
        .await?;
    Ok(Json(page))
}

async fn status(State(app): State<App>) -> Result<Json<serde_json::Value>, Failure> {
    let store = app.items.store().clone();
    let status = StoreStatus::of_async(&store).await?;
    let checkpoint = tokio::task::spawn_blocking(move || projection_checkpoint(&store, STOCK))
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(
        json!({ "head": status.head, "stock_checkpoint": checkpoint }),
    ))
}
