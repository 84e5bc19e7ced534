//! Brook's network layer, request handlers and coordinators. Not built yet: the single-broker
//! issue fills this crate in on top of `brook-log`.
