"""JIRA emulator routes for the Agile REST API (``/rest/agile/1.0``): boards and sprints.

Enough of Jira Software for a client to create a board over a saved filter, plan sprints on
it (create, read, update, delete, list per board) and move issues into a sprint or back to
the backlog. Boards and sprints live on the state (``state.boards``, ``state.sprints``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response

from bridge.sandbox.jira_http import Call, Routes, int_arg, json_response, read_body
from bridge.sandbox.jira_records import INVALID_PAYLOAD, JiraError

if TYPE_CHECKING:
    from bridge.sandbox.jira_state import JiraState

AGILE = dict(prefix="/rest/agile/1.0/", versions=("2",))
SPRINT_STATES = ("future", "active", "closed")


def agile_routes(state: "JiraState") -> Blueprint:
    """The blueprint of these routes for ``state``."""
    routes = Routes("jira_agile", state)
    endpoint = routes.endpoint

    def board_json(board: dict, call: Call) -> dict[str, Any]:
        return {"id": board["id"], "self": f"{call.view.base_url}/rest/agile/1.0/board/{board['id']}",
                "name": board["name"], "type": board["type"]}

    def sprint_json(sprint: dict, call: Call) -> dict[str, Any]:
        data = {"id": sprint["id"], "self": f"{call.view.base_url}/rest/agile/1.0/sprint/{sprint['id']}",
                "state": sprint["state"], "name": sprint["name"], "originBoardId": sprint["board"]}
        for key in ("goal", "startDate", "endDate"):
            if sprint.get(key) is not None:
                data[key] = sprint[key]
        return data

    def find(kind: str, item_id: int) -> dict:
        found = (state.boards if kind == "board" else state.sprints).get(item_id)
        if found is None:
            raise JiraError(404, [f"The requested {kind} cannot be viewed because it either does not exist or "
                                  "you do not have permission to view it."])
        return found

    def body() -> dict:
        payload = read_body()
        if not isinstance(payload, dict):
            raise JiraError(400, [INVALID_PAYLOAD])
        return payload

    @endpoint("board", methods=("POST",), **AGILE)
    def create_board(call: Call):
        payload = body()
        if not isinstance(payload.get("name"), str) or not payload["name"].strip():
            raise JiraError(400, [], {"name": "Board name is required."})
        filter_id = str(payload.get("filterId") or "")
        state.find_filter(filter_id, call.user)
        board = {"id": state._next_id("board", 1), "name": payload["name"], "filter": filter_id,
                 "type": payload.get("type") or "scrum"}
        state.boards[board["id"]] = board
        return json_response(board_json(board, call), 201)

    @endpoint("board/<int:board_id>", **AGILE)
    def get_board(call: Call, board_id: int):
        return json_response(board_json(find("board", board_id), call))

    @endpoint("board/<int:board_id>", methods=("DELETE",), **AGILE)
    def delete_board(call: Call, board_id: int):
        find("board", board_id)
        del state.boards[board_id]
        for sprint_id in [s["id"] for s in state.sprints.values() if s["board"] == board_id]:
            del state.sprints[sprint_id]
        return Response(status=204)

    @endpoint("board/<int:board_id>/sprint", **AGILE)
    def board_sprints(call: Call, board_id: int):
        find("board", board_id)
        sprints = [sprint_json(s, call) for s in state.sprints.values() if s["board"] == board_id]
        start, size = int_arg("startAt", 0), int_arg("maxResults", 50)
        page = sprints[start:start + size]
        return json_response({"maxResults": size, "startAt": start, "isLast": start + size >= len(sprints),
                              "values": page})

    @endpoint("sprint", methods=("POST",), **AGILE)
    def create_sprint(call: Call):
        payload = body()
        board_id = payload.get("originBoardId")
        if not isinstance(board_id, int):
            raise JiraError(400, [], {"originBoardId": "originBoardId is required."})
        find("board", board_id)
        if not isinstance(payload.get("name"), str) or not payload["name"].strip():
            raise JiraError(400, [], {"name": "Sprint name is required."})
        sprint = {"id": state._next_id("sprint", 1), "board": board_id, "name": payload["name"], "state": "future",
                  "goal": payload.get("goal"), "startDate": payload.get("startDate"),
                  "endDate": payload.get("endDate"), "issues": []}
        state.sprints[sprint["id"]] = sprint
        return json_response(sprint_json(sprint, call), 201)

    @endpoint("sprint/<int:sprint_id>", **AGILE)
    def get_sprint(call: Call, sprint_id: int):
        return json_response(sprint_json(find("sprint", sprint_id), call))

    @endpoint("sprint/<int:sprint_id>", methods=("PUT", "POST"), **AGILE)
    def update_sprint(call: Call, sprint_id: int):
        sprint, payload = find("sprint", sprint_id), body()
        if "state" in payload and str(payload["state"]).lower() not in SPRINT_STATES:
            raise JiraError(400, [], {"state": "Invalid sprint state."})
        for key in ("name", "goal", "startDate", "endDate"):
            if key in payload:
                sprint[key] = payload[key]
        if "state" in payload:
            sprint["state"] = str(payload["state"]).lower()
        return json_response(sprint_json(sprint, call))

    @endpoint("sprint/<int:sprint_id>", methods=("DELETE",), **AGILE)
    def delete_sprint(call: Call, sprint_id: int):
        find("sprint", sprint_id)
        del state.sprints[sprint_id]
        return Response(status=204)

    def issue_ids(call: Call) -> list[int]:
        keys = body().get("issues")
        if not isinstance(keys, list):
            raise JiraError(400, [INVALID_PAYLOAD])
        return [state.visible_issue(str(key), call.user).id for key in keys]

    @endpoint("sprint/<int:sprint_id>/issue", methods=("POST",), **AGILE)
    def move_to_sprint(call: Call, sprint_id: int):
        sprint = find("sprint", sprint_id)
        moved = issue_ids(call)
        for other in state.sprints.values():
            other["issues"] = [i for i in other["issues"] if i not in moved]
        sprint["issues"].extend(moved)
        return Response(status=204)

    @endpoint("backlog/issue", methods=("POST",), **AGILE)
    def move_to_backlog(call: Call):
        moved = issue_ids(call)
        for sprint in state.sprints.values():
            sprint["issues"] = [i for i in sprint["issues"] if i not in moved]
        return Response(status=204)

    return routes.blueprint
