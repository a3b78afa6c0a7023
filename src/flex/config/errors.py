"""The error every user-facing configuration check raises."""


class ConfigError(ValueError):
    """A configuration value is not allowed.

    The message names each offending key (dotted path), its value and what is allowed, one problem
    per line, so that a user can fix all of them at once.
    """

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration ({source}):\n{lines}")
