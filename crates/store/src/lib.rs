//! The case database (being written).
