//! Who is calling: JWT access and refresh tokens, sign-in codes sent by SMS, admin passwords.

pub mod bans;
pub mod codes;
pub mod passwords;
pub mod tokens;

pub use bans::BanList;
pub use codes::{LogSms, SignInCodes, SmsSender};
pub use tokens::{AccessClaims, SubjectKind, TokenPair, Tokens};
