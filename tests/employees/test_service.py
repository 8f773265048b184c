"""The service functions SCIM provisioning builds on (addressed by id, not external_id)."""

import pytest

from app.core.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from app.core.principal import Principal
from app.employees import service
from app.employees.schemas import EmployeeIn
from tests.employees.conftest import person

SCIM = Principal.system("scim-test")


async def test_create_replace_deactivate_by_id(db, enrolled):
    async with db() as s, s.begin():
        created = await service.create_employee(
            s, SCIM, data=EmployeeIn(**person(1, user_name="Person1"))
        )
    assert created.user_name == "person1"
    assert enrolled == [[created.id]]

    async with db() as s, s.begin():
        with pytest.raises(service.AlreadyTaken) as taken:
            await service.create_employee(s, SCIM, data=EmployeeIn(**person(1)))
        assert taken.value.field == "external_id"
    async with db() as s, s.begin():
        with pytest.raises(service.AlreadyTaken) as taken:
            await service.create_employee(
                s, SCIM, data=EmployeeIn(**person(2, user_name="PERSON1"))
            )
        assert taken.value.field == "user_name"
    async with db() as s, s.begin():
        with pytest.raises(ValidationFailed):
            await service.create_employee(s, SCIM, data=EmployeeIn(email="x@example.com"))

    async with db() as s, s.begin():
        current = await service.get_employee(s, employee_id=created.id)
        patched = service.employee_input(current).model_copy(update={"active": False})
        employee, changed = await service.replace_employee(
            s, SCIM, employee_id=created.id, data=patched, if_match=service.employee_etag(current)
        )
        assert changed and employee.active is False and employee.deactivated_at is not None
        _, changed = await service.replace_employee(s, SCIM, employee_id=created.id, data=patched)
        assert not changed
        with pytest.raises(PreconditionFailed):
            await service.replace_employee(
                s, SCIM, employee_id=created.id, data=patched, if_match='"stale"'
            )

    async with db() as s, s.begin():
        renamed = patched.model_copy(update={"external_id": "E-NEW", "active": True})
        employee, changed = await service.replace_employee(
            s, SCIM, employee_id=created.id, data=renamed
        )
        assert (employee.external_id, employee.active, employee.deactivated_at) == (
            "E-NEW",
            True,
            None,
        )
        employee = await service.deactivate_employee(s, SCIM, employee_id=created.id)
        assert employee.active is False
        assert (await service.get_employee(s, external_id="E-NEW")).id == created.id

    async with db() as s, s.begin():
        await service.erase_employee(s, SCIM, employee_id=created.id)
        with pytest.raises(Conflict):
            await service.replace_employee(s, SCIM, employee_id=created.id, data=renamed)
        with pytest.raises(NotFound):
            await service.get_employee(s, external_id="E-NEW")
