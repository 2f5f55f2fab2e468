//! The daemon send path against the emulator: real pty, real inotify, real SQLite.
