//! `lethe unlock --config FILE`: one passphrase from stdin opens the configured devices.
