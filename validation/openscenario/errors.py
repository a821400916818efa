"""The one error of the OpenSCENARIO reader."""


class ScenarioError(ValueError):
    """An OpenSCENARIO document or expression that cannot be accepted, with the reason."""
