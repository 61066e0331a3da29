"""Native system contracts at fixed addresses."""

from node.execution.system.base import SystemContract, system_address
from node.execution.system.sysconfig import SYSCONFIG_ADDRESS, SysConfig

__all__ = ["SYSCONFIG_ADDRESS", "SysConfig", "SystemContract", "system_address"]
