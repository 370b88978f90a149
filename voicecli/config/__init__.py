"""Configuration: defaults < TOML file < `[profiles.NAME]` < environment < command-line flags.

`app_config` holds the settings and how they are loaded; `starter` writes the documented starter file.
"""

from voicecli.config.app_config import (
    ENVIRONMENT,
    AppConfig,
    BuiltinTool,
    ConfigError,
    EchoMode,
    Provider,
    default_config_path,
    load_config,
    to_display_dict,
)

__all__ = [
    "ENVIRONMENT",
    "AppConfig",
    "BuiltinTool",
    "ConfigError",
    "EchoMode",
    "Provider",
    "default_config_path",
    "load_config",
    "to_display_dict",
]
