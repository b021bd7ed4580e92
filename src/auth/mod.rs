//! Who is calling: JWT access and refresh tokens, sign-in codes and the SMS providers that
//! deliver them, WeChat mini-program sign-in, admin passwords.

pub mod bans;
pub mod codes;
pub mod passwords;
pub mod sms;
pub mod tokens;
pub mod wechat;

pub use bans::BanList;
pub use codes::SignInCodes;
pub use sms::{LogSms, SmsSender};
pub use tokens::{AccessClaims, SubjectKind, TokenPair, Tokens};
