"""Where each step of a DAG goes in its picture: columns by depth, steps of one depth stacked."""

from __future__ import annotations

from dataclasses import dataclass

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 168, 52, 48, 20, 8


@dataclass
class Node:
    name: str
    state: str
    note: str
    x: int
    y: int
    w: int = NODE_W
    h: int = NODE_H


@dataclass
class Edge:
    parent: str
    child: str
    path: str


@dataclass
class Picture:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int


def layout(steps: list[tuple[str, list[str], str, str]]) -> Picture:
    """Place steps given as (name, parents, state, note under the name), in their declared order
    (parents come first)."""
    depth: dict[str, int] = {}
    for name, parents, _state, _note in steps:
        depth[name] = 1 + max((depth.get(p, 0) for p in parents), default=-1)
    rows: dict[int, int] = {}
    nodes: dict[str, Node] = {}
    for name, _parents, state, note in steps:
        column = depth[name]
        row = rows.get(column, 0)
        rows[column] = row + 1
        nodes[name] = Node(name, state, note, PAD + column * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    tallest = max(rows.values(), default=1)
    # Centre each column's steps on the tallest column, so a diamond looks like one.
    for name, node in nodes.items():
        spare = (tallest - rows[depth[name]]) * (NODE_H + GAP_Y)
        node.y += spare // 2
    edges = [Edge(p, name, _curve(nodes[p], nodes[name])) for name, parents, _, _ in steps for p in parents
             if p in nodes]
    width = PAD * 2 + (max(depth.values(), default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + tallest * (NODE_H + GAP_Y) - GAP_Y
    return Picture(list(nodes.values()), edges, width, height)


def _curve(a: Node, b: Node) -> str:
    x1, y1, x2, y2 = a.x + a.w, a.y + a.h // 2, b.x, b.y + b.h // 2
    middle = (x1 + x2) // 2
    return f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2 - 6},{y2}"
