"""Drives `cordon mcp` with the official MCP Python SDK (2.x), for tests/all/mcp.rs.

Reads a JSON plan on stdin:
  {"server": [argv...]} (stdio) or {"url": "http://127.0.0.1:PORT/mcp"} (streamable HTTP),
  "steps": [{"call": NAME, "args": {...}} | {"parallel": [{"call": NAME, "args": {...}}, ...]}]
Prints one JSON object: the initialize result, the tools listed, and each step's result
(a list for a parallel step), every result as {"isError", "text", "structured"}, and each
step's wall time in seconds ("elapsed").
"""

import asyncio
import json
import os
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def result_json(r):
    texts = [c.text for c in r.content if getattr(c, "type", None) == "text"]
    return {"isError": bool(r.is_error), "text": texts, "structured": r.structured_content}


async def one(session, step):
    try:
        r = await session.call_tool(step["call"], step.get("args") or {}, read_timeout_seconds=step.get("timeout"))
        return result_json(r)
    except Exception as e:  # a protocol error: reported, the run goes on
        return {"protocolError": str(e)}


async def drive(session, plan):
    init = await session.initialize()
    listed = await session.list_tools()
    out = {
        "protocolVersion": init.protocol_version,
        "serverName": init.server_info.name,
        "tools": [t.model_dump(by_alias=True, exclude_none=True) for t in listed.tools],
        "results": [],
        "elapsed": [],
    }
    for step in plan.get("steps", []):
        started = time.monotonic()
        if "parallel" in step:
            out["results"].append(list(await asyncio.gather(*(one(session, s) for s in step["parallel"]))))
        else:
            out["results"].append(await one(session, step))
        out["elapsed"].append(time.monotonic() - started)
    return out


async def main():
    plan = json.load(sys.stdin)
    if "url" in plan:
        from mcp.client.streamable_http import streamable_http_client

        async with streamable_http_client(plan["url"]) as (read, write, *_):
            async with ClientSession(read, write) as session:
                out = await drive(session, plan)
    else:
        argv = plan["server"]
        params = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await drive(session, plan)
    print(json.dumps(out))


asyncio.run(main())
