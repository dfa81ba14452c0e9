//! Filled in by the foundation issue (work in progress).
