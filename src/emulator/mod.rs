//! A realistic AT modem on a pseudo-terminal (work in progress).
