"""The st-workflow seed README's examples, one module each (their step names repeat).

Each module is the seed's code with only the import line changed; the workflow-building lines
sit in ``build(app)`` so a test (and a worker, which must register the steps) can build it
with an ``app=``: ``Workflow(ctx=...)`` becomes ``Workflow(ctx=..., app=app)``.
"""

from __future__ import annotations

from tests.integration.apps.steps_seed import (
    complex_order,
    data_pipeline,
    dependency_injection,
    ecommerce,
    infrastructure,
    quick_start,
    web_scraping,
)

__all__ = ["MODULES"]

MODULES = (
    quick_start,
    complex_order,
    web_scraping,
    data_pipeline,
    infrastructure,
    ecommerce,
    dependency_injection,
)
