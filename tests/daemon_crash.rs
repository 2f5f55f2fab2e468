//! Crash test of the send path (SIGKILL at random moments).
