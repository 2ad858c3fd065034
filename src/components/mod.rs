//! The page's panels, one per file.

pub mod console;
pub mod control_plane;
pub mod editor;
pub mod help;
pub mod nodes;
pub mod services;
pub mod status_bar;
pub mod traffic;
