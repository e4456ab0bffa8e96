//! `superapp:platform/wallet`: payment intents, refunds, holds and red
//! packets for the calling app. The app and the person come from the call,
//! never from arguments; people appear to the app only as its open ids. No
//! call here moves the person's money without their confirmation in the host.

use super::superapp::platform::wallet::{
    Claim, ClaimResult, Error, Host, PacketStatus as WitPacketStatus, Payment as WitPayment,
    PaymentMode as WitMode, PaymentRefund as WitRefund, PaymentStatus as WitStatus, Payout,
    RedPacket as WitPacket, Split as WitSplit,
};
use super::{CallCaps, NOT_DECLARED, internal_problem, problem};
use crate::packages::Capability;
use crate::wallet::{
    AppErrorCase, Command, Outcome, PacketSpec, PacketStatus, Payment, PaymentKind, PaymentMode,
    PaymentStatus, RedPacket, Split, WalletError,
};

/// A wallet error as the app sees it (never with internal ids: the
/// ledger's messages name accounts by kind or by this app's ids). Core
/// sorts it into its case and picks the text (the SDK's mock does the same).
fn to_wit(e: WalletError) -> Error {
    let msg = problem(e.code(), e.app_message());
    match e.app_case() {
        AppErrorCase::Invalid => Error::Invalid(msg),
        AppErrorCase::IdempotencyConflict => Error::IdempotencyConflict(msg),
        AppErrorCase::NotFound => Error::NotFound(msg),
        AppErrorCase::InvalidState => Error::InvalidState(msg),
        AppErrorCase::InsufficientFunds => Error::InsufficientFunds(msg),
        AppErrorCase::LimitReached => Error::LimitReached(msg),
        AppErrorCase::Denied => Error::Denied(msg),
        AppErrorCase::Internal => {
            tracing::error!(error = %e, "wallet capability failed");
            Error::Internal(msg)
        }
    }
}

fn mode_from_wit(m: WitMode) -> PaymentMode {
    match m {
        WitMode::Direct => PaymentMode::Direct,
        WitMode::Escrow => PaymentMode::Escrow,
        WitMode::Hold => PaymentMode::Hold,
    }
}

fn status_to_wit(s: PaymentStatus) -> WitStatus {
    match s {
        PaymentStatus::Pending => WitStatus::Pending,
        PaymentStatus::Declined => WitStatus::Declined,
        PaymentStatus::Expired => WitStatus::Expired,
        PaymentStatus::Paid => WitStatus::Paid,
        PaymentStatus::Escrowed => WitStatus::Escrowed,
        PaymentStatus::Released => WitStatus::Released,
        PaymentStatus::Held => WitStatus::Held,
        PaymentStatus::Captured => WitStatus::Captured,
        PaymentStatus::Voided => WitStatus::Voided,
        PaymentStatus::Refunded => WitStatus::Refunded,
    }
}

fn packet_status_to_wit(s: PacketStatus) -> WitPacketStatus {
    match s {
        PacketStatus::Unfunded => WitPacketStatus::Unfunded,
        PacketStatus::Open => WitPacketStatus::Open,
        PacketStatus::Empty => WitPacketStatus::Empty,
        PacketStatus::Expired => WitPacketStatus::Expired,
        PacketStatus::Cancelled => WitPacketStatus::Cancelled,
    }
}

impl CallCaps {
    fn wallet_user(&self) -> Result<String, Error> {
        if !self.grants.declared.contains(&Capability::Wallet) {
            return Err(Error::Denied(problem(
                NOT_DECLARED,
                "the app's manifest does not declare the `wallet` capability",
            )));
        }
        self.user
            .as_ref()
            .map(|u| u.user_id.clone())
            .ok_or(Error::NoUser)
    }

    fn wallet_app(&self) -> Result<String, Error> {
        if !self.grants.declared.contains(&Capability::Wallet) {
            return Err(Error::Denied(problem(
                NOT_DECLARED,
                "the app's manifest does not declare the `wallet` capability",
            )));
        }
        Ok(self.grants.app_id.clone())
    }

    fn open_id_of(&self, user: &str) -> String {
        self.identity.open_id(user, &self.grants.app_id)
    }

    fn payment_to_wit(&self, p: Payment) -> WitPayment {
        let (mode, red_packet) = match p.kind {
            PaymentKind::Purchase { mode } => (
                Some(match mode {
                    PaymentMode::Direct => WitMode::Direct,
                    PaymentMode::Escrow => WitMode::Escrow,
                    PaymentMode::Hold => WitMode::Hold,
                }),
                None,
            ),
            PaymentKind::Transfer { .. } => (None, None),
            PaymentKind::RedPacket { packet } => (None, Some(packet)),
        };
        WitPayment {
            payer: self.open_id_of(&p.payer),
            id: p.id,
            amount: p.amount,
            currency: self.wallet.rules().currency.clone(),
            memo: p.memo,
            key: p.key,
            mode,
            red_packet,
            status: status_to_wit(p.status),
            expires_at: p.expires_at,
            captured: p.captured,
            refunded: p.refunded,
            refunds: p
                .refunds
                .into_iter()
                .map(|r| WitRefund {
                    id: r.id,
                    amount: r.amount,
                    key: r.key,
                    at: r.at,
                })
                .collect(),
        }
    }

    fn packet_to_wit(&self, r: RedPacket) -> WitPacket {
        WitPacket {
            sender: self.open_id_of(&r.sender),
            id: r.id,
            total: r.spec.total,
            count: r.spec.count,
            split: match r.spec.split {
                Split::Random => WitSplit::Random,
                Split::Equal => WitSplit::Equal,
            },
            greeting: r.spec.greeting,
            status: packet_status_to_wit(r.status),
            claims: r
                .claims
                .into_iter()
                .map(|c| Claim {
                    open_id: self.open_id_of(&c.user),
                    amount: c.amount,
                    at: c.at,
                })
                .collect(),
            remaining: r.remaining,
            returned: r.returned,
            expires_at: r.expires_at,
        }
    }

    async fn payment_command(&self, cmd: Command) -> Result<WitPayment, Error> {
        match self.wallet.execute(cmd).await.map_err(to_wit)? {
            Outcome::Payment(p) => {
                crate::links::announce_payment(&self.messaging, &p).await;
                Ok(self.payment_to_wit(p))
            }
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(o: Outcome) -> Error {
    tracing::error!(outcome = ?o, "the wallet answered with an unexpected outcome");
    Error::Internal(internal_problem("internal"))
}

impl Host for CallCaps {
    async fn request_payment(
        &mut self,
        amount: u64,
        memo: String,
        mode: WitMode,
        key: String,
    ) -> Result<WitPayment, Error> {
        let user = self.wallet_user()?;
        self.payment_command(Command::RequestPayment {
            app: self.grants.app_id.clone(),
            user,
            amount,
            memo,
            mode: mode_from_wit(mode),
            key,
        })
        .await
    }

    async fn request_transfer(
        &mut self,
        to: String,
        amount: u64,
        memo: String,
        key: String,
    ) -> Result<WitPayment, Error> {
        let user = self.wallet_user()?;
        let app = self.grants.app_id.clone();
        let to_user = self.user_of_open_id(&app, &to, Error::NotFound, Error::Internal)?;
        self.payment_command(Command::RequestTransfer {
            app,
            from: user,
            to: to_user,
            amount,
            memo,
            key,
        })
        .await
    }

    async fn get_payment(&mut self, id: String) -> Result<WitPayment, Error> {
        let app = self.wallet_app()?;
        let found = {
            let id = id.clone();
            self.wallet
                .read(move |l| l.payment(&id).filter(|p| p.app == app).cloned())
                .await
                .map_err(to_wit)?
        };
        found
            .map(|p| self.payment_to_wit(p))
            .ok_or_else(|| to_wit(WalletError::PaymentNotFound(id)))
    }

    async fn refund(
        &mut self,
        payment: String,
        amount: u64,
        key: String,
    ) -> Result<WitPayment, Error> {
        let app = self.wallet_app()?;
        self.payment_command(Command::Refund {
            app,
            payment,
            amount,
            key,
        })
        .await
    }

    async fn capture(
        &mut self,
        payment: String,
        amount: u64,
        key: String,
    ) -> Result<WitPayment, Error> {
        let app = self.wallet_app()?;
        self.payment_command(Command::Capture {
            app,
            payment,
            amount,
            key,
        })
        .await
    }

    async fn void(&mut self, payment: String, key: String) -> Result<WitPayment, Error> {
        let app = self.wallet_app()?;
        self.payment_command(Command::Void { app, payment, key })
            .await
    }

    async fn create_red_packet(
        &mut self,
        total: u64,
        count: u32,
        split: WitSplit,
        greeting: String,
        key: String,
    ) -> Result<WitPayment, Error> {
        let user = self.wallet_user()?;
        self.payment_command(Command::RequestRedPacket {
            app: self.grants.app_id.clone(),
            user,
            spec: PacketSpec {
                total,
                count,
                split: match split {
                    WitSplit::Random => Split::Random,
                    WitSplit::Equal => Split::Equal,
                },
                greeting,
            },
            key,
        })
        .await
    }

    async fn claim_red_packet(&mut self, id: String) -> Result<ClaimResult, Error> {
        let user = self.wallet_user()?;
        crate::links::check_claim(&self.messaging, &id, &user).map_err(to_wit)?;
        let cmd = Command::Claim {
            user: user.clone(),
            packet: id.clone(),
            via_app: Some(self.grants.app_id.clone()),
        };
        match self.wallet.execute(cmd).await.map_err(to_wit)? {
            Outcome::Claim(c) => {
                if c.new {
                    crate::links::announce_claim(
                        &self.messaging,
                        &self.wallet,
                        &self.identity,
                        &id,
                        &user,
                        c.amount,
                    )
                    .await;
                }
                Ok(ClaimResult {
                    amount: c.amount,
                    first_claim: c.new,
                    status: packet_status_to_wit(c.packet_status),
                })
            }
            other => Err(unexpected(other)),
        }
    }

    async fn pay_out(
        &mut self,
        to: String,
        amount: u64,
        memo: String,
        key: String,
    ) -> Result<Payout, Error> {
        let app = self.wallet_app()?;
        let to_user = self.user_of_open_id(&app, &to, Error::NotFound, Error::Internal)?;
        let cmd = Command::Payout {
            app,
            to: to_user,
            amount,
            memo,
            key,
        };
        match self.wallet.execute(cmd).await.map_err(to_wit)? {
            Outcome::Transfer(t) => Ok(Payout {
                transfer: t.seq,
                to,
                amount: t.amount,
                memo: t.memo,
                at: t.at,
            }),
            other => Err(unexpected(other)),
        }
    }

    async fn get_red_packet(&mut self, id: String) -> Result<WitPacket, Error> {
        let app = self.wallet_app()?;
        let found = {
            let id = id.clone();
            self.wallet
                .read(move |l| {
                    l.packet(&id)
                        .filter(|r| r.app.as_deref() == Some(app.as_str()))
                        .cloned()
                })
                .await
                .map_err(to_wit)?
        };
        found
            .map(|r| self.packet_to_wit(r))
            .ok_or_else(|| to_wit(WalletError::PacketNotFound(id)))
    }
}
