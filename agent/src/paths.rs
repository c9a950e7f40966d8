//! Fixed paths more than one part of lethe names.

/// The config in an initrd (and the default of `lethe unpersisted`), unless `lethe.config=`
/// on the kernel command line says otherwise.
pub(crate) const CONFIG_PATH: &str = "/etc/lethe/config.json";
