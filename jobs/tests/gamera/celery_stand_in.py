"""A stand-in for the one thing upstream Rodan's job modules take from Celery: the logger of
`celery.utils.log.get_task_logger`, here Python's own. Used by the reference scripts and the OMR
benchmark, which import upstream's job code without Rodan's framework."""

import logging
import sys
import types


def install():
    """Makes `from celery.utils.log import get_task_logger` give `logging.getLogger`, unless a
    `celery` module is already loaded."""
    if "celery" in sys.modules:
        return
    log = types.ModuleType("celery.utils.log")
    log.get_task_logger = logging.getLogger
    utils = types.ModuleType("celery.utils")
    utils.log = log
    celery = types.ModuleType("celery")
    celery.utils = utils
    sys.modules.update({"celery": celery, "celery.utils": utils, "celery.utils.log": log})
