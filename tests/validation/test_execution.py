"""The executor registry is the one list of executors: everything that offers a choice reads it."""

import pytest
from django.core.management import load_command_class

from ui.forms import CampaignForm, RunStartForm
from validation.api.serializers import RunStartIn
from validation.execution import registry
from validation.execution.base import ExecutorError
from validation.models import Campaign, Executor, Run


def test_every_choice_of_an_executor_is_the_registry():
    expected = registry.choices()
    assert (
        [name for name, _ in expected]
        == list(registry.EXECUTORS)
        == ["local", "spark", "sagemaker"]
    )
    assert Executor.choices == expected
    assert Campaign._meta.get_field("executor").choices == expected
    assert Run._meta.get_field("executor").choices == expected
    assert Campaign._meta.get_field("executor").default == registry.DEFAULT == "local"
    assert list(RunStartIn().fields["executor"].choices.items()) == expected
    # the planner offers the configured ones only (tests/ui/test_planner.py)
    assert list(CampaignForm.base_fields["executor"].choices) == registry.configured_choices()
    assert RunStartForm.base_fields["executor"].choices == expected
    parser = load_command_class("validation", "run_campaign").create_parser(
        "manage.py", "run_campaign"
    )
    (option,) = [a for a in parser._actions if a.dest == "executor"]
    assert list(option.choices) == list(registry.EXECUTORS)


@pytest.mark.parametrize("name", list(registry.EXECUTORS))
def test_the_registry_builds_each_executor_by_its_name(name):
    executor = registry.get_executor(name)
    assert executor.name == name
    assert callable(executor.failure_reason)


def test_an_unknown_executor_names_the_known_ones():
    assert registry.listed() == "local, spark or sagemaker"
    with pytest.raises(ExecutorError, match="'mainframe': use local, spark or sagemaker"):
        registry.get_executor("mainframe")
