//! Who may come in over SSH and what they may ask, as data: the host keys, `authorized_keys`
//! lines with their `from=` patterns and options, the requests a client may send. Below both
//! `config` (which checks the lines a config holds) and `ssh` (the server that enforces them).

pub(crate) mod from;
pub(crate) mod keys;
pub(crate) mod request;
