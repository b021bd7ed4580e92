//! Pure business rules and types: no I/O, no framework. Everything here is unit-tested.

pub mod campaign;
pub mod draw;
pub mod error;
pub mod fairness;
pub mod image;
pub mod limits;
pub mod loyalty;
pub mod money;
pub mod page;
pub mod phone;
pub mod points;
pub mod prize;
pub mod review;
pub mod shop;
pub mod time;
pub mod wheel;

pub use error::DomainError;
pub use page::{Page, PageRequest};
pub use phone::Phone;
pub use points::{PointsSource, RecordDirection};
