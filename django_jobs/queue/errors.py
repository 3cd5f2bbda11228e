"""What an attempt's error is, as the queue records it on the attempt's JobRun."""

import traceback
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    exception_class_path: str
    message: str
    traceback: str

    @classmethod
    def of(cls, exc: BaseException) -> "ErrorInfo":
        """The error of an exception an attempt raised, with its traceback."""
        try:
            message = str(exc)
        except Exception as e:  # an exception whose str() raises
            message = f"<str() of {type(exc).__qualname__} raised {type(e).__qualname__}>"
        return cls(class_path(type(exc)), message, "".join(traceback.format_exception(exc)))

    @classmethod
    def without_traceback(cls, exception_class: type[BaseException], message: str) -> "ErrorInfo":
        """An error the queue itself observed (WorkerLost, JobTimeout): its class and why, no traceback."""
        return cls(class_path(exception_class), message, "")


def class_path(exception_class: type) -> str:
    """``module.QualName`` of a class, as JobRun.exception_class_path stores it."""
    return f"{exception_class.__module__}.{exception_class.__qualname__}"


def storable(text: str) -> str:
    """
    ``text`` as every database can store it: PostgreSQL refuses a NUL
    character in text, so a job that logs, prints or raises one has it shown
    as ``\\x00`` instead of losing its whole report.
    """
    return text.replace("\x00", "\\x00") if "\x00" in text else text
