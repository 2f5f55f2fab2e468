//! The `simgate` command line.
