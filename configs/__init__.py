"""Config files: each defines get_config() -> omni.config.Config."""
