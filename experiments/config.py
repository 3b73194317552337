# Transitional alias while the stage packages move to `configs.compose`; removed in this change.
from configs.compose import *  # noqa: F401,F403
from configs.compose import CONFIG_ROOT, ConfigError, choice, compose, compose_node  # noqa: F401
