//! `superapp:platform/messaging`: notifications within each person's
//! subscriptions, cards into the calling person's chats, and answers to
//! people who wrote to the app. People are named by this app's open ids;
//! nothing here reads a chat.

use super::superapp::platform::messaging::{Host, MessagingError as Error};
use super::{CallCaps, NOT_DECLARED, internal_problem, problem};
use crate::identity::now;
use crate::messaging::{Body, MessagingError, Person};
use crate::packages::Capability;

fn to_wit(e: MessagingError) -> Error {
    let msg = problem(e.code(), e.to_string());
    match &e {
        MessagingError::Invalid(_)
        | MessagingError::TooLarge(_)
        | MessagingError::PacketAlreadyShared(_) => Error::Invalid(msg),
        MessagingError::ConversationNotFound(_)
        | MessagingError::NotYourPacket(_)
        | MessagingError::UnknownPerson(_)
        | MessagingError::UnknownApp(_)
        | MessagingError::PacketNotFound(_) => Error::NotFound(msg),
        MessagingError::NotAMember(_) => Error::NotMember(msg),
        MessagingError::NotAGroup(..) => Error::Invalid(msg),
        MessagingError::GroupFull(_) => Error::Invalid(msg),
        MessagingError::NoSubscription(_) => Error::NoSubscription(msg),
        MessagingError::OutsideWindow(_) => Error::OutsideWindow(msg),
        MessagingError::RateLimited(..) => Error::RateLimited(msg),
        MessagingError::Storage(_) => {
            tracing::error!(error = %e, "messaging capability failed");
            Error::Internal(internal_problem(e.code()))
        }
    }
}

impl CallCaps {
    fn messaging_app(&self) -> Result<String, Error> {
        if !self.grants.declared.contains(&Capability::Notify) {
            return Err(Error::Denied(problem(
                NOT_DECLARED,
                "the app's manifest does not declare the `notify` capability",
            )));
        }
        Ok(self.grants.app_id.clone())
    }

    /// The calling person, as the messenger records senders.
    fn messaging_person(&self) -> Result<Person, Error> {
        self.messaging_app()?;
        let user = self.user.as_ref().ok_or(Error::NoUser)?;
        match self.identity.user(&user.user_id) {
            Ok(Some(u)) => Ok(crate::links::person_of(u)),
            _ => Err(Error::NoUser),
        }
    }
}

impl Host for CallCaps {
    async fn notify(&mut self, open_id: String, topic: String, body: String) -> Result<u64, Error> {
        let app = self.messaging_app()?;
        let user = self.user_of_open_id(&app, &open_id, Error::NotFound, Error::Internal)?;
        let m = self
            .messaging
            .notify(&app, &user, &topic, body, now())
            .await
            .map_err(to_wit)?;
        Ok(m.id)
    }

    async fn share_card(
        &mut self,
        conversation: String,
        path: String,
        title: String,
    ) -> Result<u64, Error> {
        let me = self.messaging_person()?;
        let body = Body::AppCard {
            app: self.grants.app_id.clone(),
            path,
            title,
        };
        let m = self
            .messaging
            .send(&me, &conversation, body, now())
            .await
            .map_err(to_wit)?;
        Ok(m.id)
    }

    async fn share_red_packet(
        &mut self,
        conversation: String,
        packet: String,
    ) -> Result<u64, Error> {
        let me = self.messaging_person()?;
        // Only the caller's own packet, sent through this app, unopened.
        let body = crate::links::red_packet_card(
            &self.wallet,
            packet,
            &me.user,
            Some(&self.grants.app_id),
        )
        .await
        .map_err(to_wit)?;
        let m = self
            .messaging
            .send(&me, &conversation, body, now())
            .await
            .map_err(to_wit)?;
        Ok(m.id)
    }

    async fn reply(&mut self, open_id: String, text: String) -> Result<u64, Error> {
        let app = self.messaging_app()?;
        let user = self.user_of_open_id(&app, &open_id, Error::NotFound, Error::Internal)?;
        let m = self
            .messaging
            .reply(&app, &user, text, now())
            .await
            .map_err(to_wit)?;
        Ok(m.id)
    }
}
