//! The co-pilot's own HTTP routes, served by lakehouse-http beside its API (through
//! [`ServerConfig::routes`](lakehouse_http::server::ServerConfig::routes)) behind the same
//! token, limits, request ids and error shape:
//!
//! - `POST /v1/validate/fill` — a fill proposal → [`Report`]
//! - `POST /v1/validate/email` — an e-mail draft → [`Report`]
//! - `POST /v1/validate/sms` — an SMS → [`Report`]
//!
//! A refused artifact is still a validation that worked: 200 with `valid: false` and the
//! errors. A body that is not JSON is a 400, missing datasets a 404, in the API's shape.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use lakehouse_core::Lakehouse;
use lakehouse_http::server::error::{ApiResult, Json};
use serde_json::Value;

use crate::roster::Rosters;
use crate::validate::{self, Message, Report};

/// The routes, with their roster cache over `lh`.
pub fn routes(lh: Lakehouse) -> Router {
    Router::new()
        .route("/v1/validate/fill", post(fill))
        .route("/v1/validate/email", post(email))
        .route("/v1/validate/sms", post(sms))
        .with_state(Arc::new(Rosters::new(lh)))
}

type S = State<Arc<Rosters>>;

async fn fill(State(rosters): S, Json(artifact): Json<Value>) -> ApiResult<Json<Report>> {
    Ok(Json(validate::fill(&*rosters.get().await?, &artifact)))
}

async fn email(State(rosters): S, Json(artifact): Json<Value>) -> ApiResult<Json<Report>> {
    let roster = rosters.get().await?;
    Ok(Json(validate::message(Message::Email, &roster, &artifact)))
}

async fn sms(State(rosters): S, Json(artifact): Json<Value>) -> ApiResult<Json<Report>> {
    let roster = rosters.get().await?;
    Ok(Json(validate::message(Message::Sms, &roster, &artifact)))
}
