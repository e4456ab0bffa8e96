//! The wallet over HTTP: a person's balance, history, transfers, payment
//! decisions and red packets (`/me/...`), and the operator's top-ups,
//! withdrawals, merchant balances and audit (`/admin/wallet/...`). Every
//! route that moves money needs an `Idempotency-Key` header.

use super::auth::Authed;
use super::{AppState, JsonBody, PageLimit, Problem, query};
use crate::platform::{
    ClaimResultView, HolderRef, MerchantAction, MerchantBalance, PacketView, PaymentDecision,
    PaymentView, TransactionPage, TransactionView, WalletView,
};
use crate::wallet::{Audit, PacketSpec, Split};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use serde::{Deserialize, Serialize};

/// The `Idempotency-Key` header, required where money moves.
fn idempotency_key(headers: &HeaderMap) -> Result<String, Problem> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "idempotency-key-required",
                "this route moves money: send an `Idempotency-Key` header (6–64 of A-Z a-z 0-9 . _ : -); a retry with the same key returns the first result",
            )
        })
}

/// The person's balance.
#[utoipa::path(get, path = "/me/wallet", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = WalletView), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn balance(
    State(s): State<AppState>,
    who: Authed,
) -> Result<Json<WalletView>, Problem> {
    Ok(Json(s.host.wallet_of(&who.user_id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    /// Entries with a `seq` below this (from `next_before`).
    #[param(nullable = false)]
    before: Option<u64>,
    #[param(inline)]
    limit: Option<PageLimit>,
}

/// The person's transactions, newest first.
#[utoipa::path(get, path = "/me/wallet/transactions", tag = "wallet", security(("bearer" = [])),
    params(HistoryQuery),
    responses((status = 200, body = TransactionPage)))]
pub(super) async fn transactions(
    State(s): State<AppState>,
    who: Authed,
    uri: Uri,
) -> Result<Json<TransactionPage>, Problem> {
    let q: HistoryQuery = query(&uri)?;
    Ok(Json(
        s.host
            .transactions(&who.user_id, q.before, PageLimit::or_default(q.limit))
            .await?,
    ))
}

/// Money to another person.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The recipient's handle.
    pub to: String,
    /// Minor units (cents).
    pub amount: u64,
    #[serde(default)]
    pub memo: String,
}

/// Sends money to another person, at once (the person is the one asking).
#[utoipa::path(post, path = "/me/transfers", tag = "wallet", security(("bearer" = [])),
    request_body = TransferRequest,
    params(("Idempotency-Key" = String, Header, description = "6–64 of A-Z a-z 0-9 . _ : -")),
    responses((status = 200, body = TransactionView), (status = 400, description = "`idempotency-key-required`"),
        (status = 404, description = "`unknown-user`"),
        (status = 409, description = "`insufficient-funds`, `idempotency-conflict`: the key was used for another request"),
        (status = 422, description = "`invalid-amount`, `invalid-idempotency-key`, `invalid-text`, `self-transfer`, `limit-exceeded`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn transfer(
    State(s): State<AppState>,
    who: Authed,
    headers: HeaderMap,
    JsonBody(req): JsonBody<TransferRequest>,
) -> Result<Json<TransactionView>, Problem> {
    let key = idempotency_key(&headers)?;
    Ok(Json(
        s.host
            .transfer(&who.user_id, &req.to, req.amount, &req.memo, &key)
            .await?,
    ))
}

/// Payment intents mini-apps created that wait for the person.
#[utoipa::path(get, path = "/me/payments/pending", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = Vec<PaymentView>), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn pending(
    State(s): State<AppState>,
    who: Authed,
) -> Result<Json<Vec<PaymentView>>, Problem> {
    Ok(Json(s.host.pending_payments(&who.user_id).await?))
}

/// One of the person's payments.
#[utoipa::path(get, path = "/me/payments/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, body = PaymentView), (status = 404, description = "`payment-not-found`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn payment(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<PaymentView>, Problem> {
    Ok(Json(s.host.payment_of(&who.user_id, &id).await?))
}

async fn decide(
    s: AppState,
    who: Authed,
    id: String,
    decision: PaymentDecision,
) -> Result<Json<PaymentView>, Problem> {
    Ok(Json(
        s.host.decide_payment(&who.user_id, &id, decision).await?,
    ))
}

/// Pays a pending intent (the only way a mini-app gets the person's money).
/// Confirming twice pays once.
#[utoipa::path(post, path = "/me/payments/{id}/confirm", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, body = PaymentView), (status = 404, description = "`payment-not-found`"),
        (status = 409, description = "`insufficient-funds`, `invalid-state`: not pending"),
        (status = 410, description = "`payment-expired`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn confirm(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<PaymentView>, Problem> {
    decide(s, who, id, PaymentDecision::Confirm).await
}

/// Declines a pending intent.
#[utoipa::path(post, path = "/me/payments/{id}/decline", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, body = PaymentView), (status = 404, description = "`payment-not-found`"),
        (status = 409, description = "`invalid-state`: not pending"),
        (status = 410, description = "`payment-expired`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn decline(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<PaymentView>, Problem> {
    decide(s, who, id, PaymentDecision::Decline).await
}

/// The buyer received the goods: escrow goes to the merchant.
#[utoipa::path(post, path = "/me/payments/{id}/confirm-receipt", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, body = PaymentView), (status = 404, description = "`payment-not-found`"),
        (status = 409, description = "`invalid-state`: not held in escrow"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn confirm_receipt(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<PaymentView>, Problem> {
    decide(s, who, id, PaymentDecision::ConfirmReceipt).await
}

/// A red packet to send.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketRequest {
    /// Minor units in all.
    pub total: u64,
    pub count: u32,
    /// `random` (default) or `equal`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub split: Option<Split>,
    #[serde(default)]
    pub greeting: String,
}

/// Sends a red packet from the person's wallet (funded at once); share its id.
#[utoipa::path(post, path = "/me/red-packets", tag = "wallet", security(("bearer" = [])),
    request_body = PacketRequest,
    params(("Idempotency-Key" = String, Header, description = "6–64 of A-Z a-z 0-9 . _ : -")),
    responses((status = 201, body = PacketView), (status = 400, description = "`idempotency-key-required`"),
        (status = 409, description = "`insufficient-funds`, `idempotency-conflict`"),
        (status = 422, description = "`invalid-amount`, `invalid-red-packet`, `invalid-idempotency-key`, `invalid-text`, `limit-exceeded`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn send_packet(
    State(s): State<AppState>,
    who: Authed,
    headers: HeaderMap,
    JsonBody(req): JsonBody<PacketRequest>,
) -> Result<(StatusCode, Json<PacketView>), Problem> {
    let key = idempotency_key(&headers)?;
    let spec = PacketSpec {
        total: req.total,
        count: req.count,
        split: req.split.unwrap_or(Split::Random),
        greeting: req.greeting,
    };
    let view = s.host.send_red_packet(&who.user_id, spec, &key).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A red packet: who got what, and who drew the most.
#[utoipa::path(get, path = "/me/red-packets/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Red packet id")),
    responses((status = 200, body = PacketView),
        (status = 403, description = "`not-a-member`: the packet was sent into a conversation the person is not in"),
        (status = 404, description = "`red-packet-not-found`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn packet(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<PacketView>, Problem> {
    Ok(Json(s.host.red_packet(&who.user_id, &id).await?))
}

/// Claims a share: once per person (a second claim returns the first share).
#[utoipa::path(post, path = "/me/red-packets/{id}/claim", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Red packet id")),
    responses((status = 200, body = ClaimResultView),
        (status = 403, description = "`not-a-member`: the packet belongs to a conversation the person is not in"),
        (status = 404, description = "`red-packet-not-found`"),
        (status = 410, description = "`red-packet-expired`, `red-packet-empty`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn claim(
    State(s): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<Json<ClaimResultView>, Problem> {
    Ok(Json(s.host.claim_red_packet(&who.user_id, &id).await?))
}

// ---- operator ----------------------------------------------------------

/// Money entering or leaving the system.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorMove {
    /// The person (for a top-up, or a withdrawal from their wallet).
    pub handle: Option<String>,
    /// The app whose merchant balance is withdrawn (withdrawals only).
    pub app: Option<String>,
    /// Minor units.
    pub amount: u64,
}

/// Adds money to a person's wallet (issuance).
#[utoipa::path(post, path = "/admin/wallet/topup", tag = "admin", security(("admin" = [])),
    request_body = OperatorMove,
    params(("Idempotency-Key" = String, Header, description = "6–64 of A-Z a-z 0-9 . _ : -")),
    responses((status = 200, body = TransactionView), (status = 400, description = "`idempotency-key-required`"),
        (status = 404, description = "`unknown-user`"),
        (status = 409, description = "`idempotency-conflict`"),
        (status = 422, description = "`invalid-holder`, `invalid-amount`, `invalid-idempotency-key`, `limit-exceeded`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn topup(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<OperatorMove>,
) -> Result<Json<TransactionView>, Problem> {
    let key = idempotency_key(&headers)?;
    let (Some(handle), None) = (req.handle, req.app) else {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-holder",
            "a top-up names the person by `handle` (and no `app`)",
        ));
    };
    Ok(Json(s.host.top_up(&handle, req.amount, &key).await?))
}

/// Takes money out of a person's wallet or an app's merchant account
/// (redemption).
#[utoipa::path(post, path = "/admin/wallet/withdraw", tag = "admin", security(("admin" = [])),
    request_body = OperatorMove,
    params(("Idempotency-Key" = String, Header, description = "6–64 of A-Z a-z 0-9 . _ : -")),
    responses((status = 200, body = TransactionView), (status = 400, description = "`idempotency-key-required`"),
        (status = 404, description = "`unknown-user`, `app-not-found`"),
        (status = 409, description = "`insufficient-funds`, `idempotency-conflict`"),
        (status = 422, description = "`invalid-holder`, `invalid-amount`, `invalid-idempotency-key`, `limit-exceeded`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn withdraw(
    State(s): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<OperatorMove>,
) -> Result<Json<TransactionView>, Problem> {
    let key = idempotency_key(&headers)?;
    let holder = match (req.handle, req.app) {
        (Some(h), None) => HolderRef::Person(h),
        (None, Some(a)) => HolderRef::App(a),
        _ => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-holder",
                "a withdrawal names exactly one of `handle` (a person) or `app` (a merchant)",
            ));
        }
    };
    Ok(Json(s.host.withdraw(holder, req.amount, &key).await?))
}

/// A person's balance.
#[utoipa::path(get, path = "/admin/wallet/users/{handle}", tag = "admin", security(("admin" = [])),
    params(("handle" = String, Path, description = "The person's handle", example = "ann")),
    responses((status = 200, body = WalletView), (status = 404, description = "`unknown-user`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn user_balance(
    State(s): State<AppState>,
    Path(handle): Path<String>,
) -> Result<Json<WalletView>, Problem> {
    Ok(Json(s.host.balance_of(&handle).await?))
}

/// Every app's merchant balance.
#[utoipa::path(get, path = "/admin/wallet/merchants", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = Vec<MerchantBalance>), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn merchants(
    State(s): State<AppState>,
) -> Result<Json<Vec<MerchantBalance>>, Problem> {
    Ok(Json(s.host.merchant_balances().await?))
}

/// Replays the whole journal and checks it against the running ledger and
/// every invariant (conservation, escrow and packet accounts).
#[utoipa::path(get, path = "/admin/wallet/audit", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = Object), (status = 500, description = "`corrupt`: the journal and the ledger disagree"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn audit(State(s): State<AppState>) -> Result<Json<Audit>, Problem> {
    Ok(Json(s.host.wallet().audit().await?))
}

/// Any payment, for the operator.
#[utoipa::path(get, path = "/admin/wallet/payments/{id}", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, body = PaymentView), (status = 404, description = "`payment-not-found`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn admin_payment(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PaymentView>, Problem> {
    Ok(Json(s.host.payment_for_operator(&id).await?))
}

/// An amount the operator refunds or captures for a merchant.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    /// Minor units.
    pub amount: u64,
}

async fn settle(
    s: AppState,
    id: String,
    headers: HeaderMap,
    action: MerchantAction,
) -> Result<Json<PaymentView>, Problem> {
    let key = idempotency_key(&headers)?;
    Ok(Json(s.host.settle_for_merchant(&id, action, &key).await?))
}

/// Refunds (part of) a payment for its merchant: from escrow while held,
/// else from the merchant balance.
#[utoipa::path(post, path = "/admin/wallet/payments/{id}/refund", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "Payment id"), ("Idempotency-Key" = String, Header, description = "6–64 of A-Z a-z 0-9 . _ : -")),
    request_body = AmountRequest,
    responses((status = 200, body = PaymentView), (status = 400, description = "`idempotency-key-required`"),
        (status = 404, description = "`payment-not-found`"),
        (status = 409, description = "`insufficient-funds`, `idempotency-conflict`, `invalid-state`"),
        (status = 422, description = "`invalid-amount`, `invalid-idempotency-key`, `limit-exceeded`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn admin_refund(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<AmountRequest>,
) -> Result<Json<PaymentView>, Problem> {
    settle(s, id, headers, MerchantAction::Refund(req.amount)).await
}

/// Captures part of a hold for its merchant; the rest returns to the payer.
#[utoipa::path(post, path = "/admin/wallet/payments/{id}/capture", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "Payment id"), ("Idempotency-Key" = String, Header, description = "6–64 of A-Z a-z 0-9 . _ : -")),
    request_body = AmountRequest,
    responses((status = 200, body = PaymentView), (status = 400, description = "`idempotency-key-required`"),
        (status = 404, description = "`payment-not-found`"),
        (status = 409, description = "`idempotency-conflict`, `invalid-state`"),
        (status = 410, description = "`payment-expired`: the hold expired"),
        (status = 422, description = "`invalid-amount`, `invalid-idempotency-key`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn admin_capture(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<AmountRequest>,
) -> Result<Json<PaymentView>, Problem> {
    settle(s, id, headers, MerchantAction::Capture(req.amount)).await
}

/// Voids a hold: all of it returns to the payer.
#[utoipa::path(post, path = "/admin/wallet/payments/{id}/void", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "Payment id"), ("Idempotency-Key" = String, Header, description = "6–64 of A-Z a-z 0-9 . _ : -")),
    responses((status = 200, body = PaymentView), (status = 400, description = "`idempotency-key-required`"),
        (status = 404, description = "`payment-not-found`"),
        (status = 409, description = "`idempotency-conflict`, `invalid-state`"),
        (status = 422, description = "`invalid-idempotency-key`"), (status = 503, description = "`unavailable`: the ledger is not running")))]
pub(super) async fn admin_void(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<PaymentView>, Problem> {
    settle(s, id, headers, MerchantAction::Void).await
}
