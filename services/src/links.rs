//! What the services need of each other, written once: the glue between
//! wallet, messaging and identity that both the capability adapters and
//! the platform call. It depends on those services only, never on the
//! platform or the runtime, so neither edge closes a cycle through it.

use crate::messaging::{Body, LiveBody, Messaging, MessagingError, Person};

/// Tells the sender of `packet` that `claimer` opened it. Best effort: the
/// claim stands whatever happens here, and the packet view shows it too.
pub async fn announce_claim(
    messaging: &Messaging,
    wallet: &crate::wallet::Wallet,
    identity: &crate::identity::Identity,
    packet: &str,
    claimer: &str,
    amount: u64,
) {
    let pid = packet.to_string();
    let sender = match wallet
        .read(move |l| l.packet(&pid).map(|r| r.sender.clone()))
        .await
    {
        Ok(Some(sender)) => sender,
        _ => return,
    };
    let by = match identity.user(claimer) {
        Ok(Some(u)) => person_of(u),
        _ => return,
    };
    let body = LiveBody::PacketClaimed {
        packet: packet.to_string(),
        by,
        amount,
    };
    if let Err(e) = messaging
        .announce(&sender, body, crate::identity::now())
        .await
    {
        tracing::warn!(error = %e, packet, "cannot announce a red-packet claim");
    }
}

/// Asks the payer, on their live stream, to confirm `p` (while it waits).
pub async fn announce_payment(messaging: &Messaging, p: &crate::wallet::Payment) {
    if p.status != crate::wallet::PaymentStatus::Pending {
        return;
    }
    let body = LiveBody::PaymentPrompt {
        payment: p.id.clone(),
        app: p.app.clone(),
        amount: p.amount,
        memo: p.memo.clone(),
    };
    if let Err(e) = messaging
        .announce(&p.payer, body, crate::identity::now())
        .await
    {
        tracing::warn!(error = %e, payment = %p.id, "cannot announce a payment prompt");
    }
}

/// The wallet's answer when the messenger keeps `user` from `packet`.
pub fn check_claim(
    messaging: &Messaging,
    packet: &str,
    user: &str,
) -> Result<(), crate::wallet::WalletError> {
    use crate::wallet::WalletError;
    match messaging.may_claim(packet, user) {
        Ok(true) => Ok(()),
        Ok(false) => Err(WalletError::NotInConversation(packet.to_string())),
        Err(MessagingError::Storage(e)) => Err(e.into()),
        Err(e) => Err(WalletError::Internal(e.to_string())),
    }
}

/// The card for `packet`: the person's own (sent through `via_app` when an
/// app shares it) and not opened yet — once claimed through its link it
/// cannot be fenced into a conversation.
pub async fn red_packet_card(
    wallet: &crate::wallet::Wallet,
    packet: String,
    user_id: &str,
    via_app: Option<&str>,
) -> Result<Body, MessagingError> {
    let pid = packet.clone();
    let found = wallet
        .read(move |l| l.packet(&pid).cloned())
        .await
        .map_err(|e| match e {
            crate::wallet::WalletError::Storage(e) => {
                MessagingError::Storage(crate::store::StoreError::Io(e))
            }
            other => MessagingError::Invalid(other.to_string()),
        })?
        .ok_or_else(|| MessagingError::PacketNotFound(packet.clone()))?;
    if found.sender != user_id || via_app.is_some_and(|app| found.app.as_deref() != Some(app)) {
        return Err(MessagingError::NotYourPacket(packet));
    }
    if !found.claims.is_empty() {
        return Err(MessagingError::Invalid(format!(
            "red packet `{packet}` has been opened already; share it before anyone claims it"
        )));
    }
    Ok(Body::RedPacket {
        packet,
        greeting: found.spec.greeting,
    })
}

/// A person as the messenger records them.
pub fn person_of(u: crate::identity::User) -> Person {
    Person {
        user: u.id,
        handle: u.handle,
        name: u.display_name,
    }
}
