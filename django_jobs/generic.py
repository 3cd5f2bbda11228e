"""
Django's Task, TaskResult and TaskContext as bases that take type parameters.

django-stubs declares them generic (``Task[P, R]``: the function's parameters
and return type), but Django's classes are not subscriptable at run time. So
that ``class JobTask(GenericTask[P, R], Generic[P, R])`` means ``Task[P, R]``
to a type checker and plain ``Task`` to Python, these names are Django's
classes when type checking, and at run time objects whose ``[...]`` gives the
class back unchanged.
"""

from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .compat import Task, TaskContext, TaskResult

__all__ = ["GenericTask", "GenericTaskContext", "GenericTaskResult", "P", "R"]

#: A task function's parameters and return type (``Task[P, R]``).
P = ParamSpec("P")
R = TypeVar("R")


class _Subscriptable:
    """``_Subscriptable(cls)[anything]`` is ``cls``."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def __getitem__(self, params: Any) -> type:
        return self.cls


if TYPE_CHECKING:
    GenericTask = Task
    GenericTaskResult = TaskResult
    GenericTaskContext = TaskContext
else:
    GenericTask = _Subscriptable(Task)
    GenericTaskResult = _Subscriptable(TaskResult)
    GenericTaskContext = _Subscriptable(TaskContext)
