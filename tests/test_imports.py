"""The import direction that ``tinygen/ops/tensor_methods.py`` states: ops import autograd, and
autograd imports nothing from ops, not even inside a method (the methods that are ops, such as
``clone`` and ``to``, are attached by tensor_methods)."""
from __future__ import annotations

import ast
from pathlib import Path

import tinygen

AUTOGRAD = Path(tinygen.__file__).parent / "autograd.py"


def test_autograd_imports_nothing_from_ops_anywhere() -> None:
    imported = []
    for node in ast.walk(ast.parse(AUTOGRAD.read_text())):
        if isinstance(node, ast.ImportFrom):
            imported.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
    assert not [m for m in imported if "ops" in m.split(".")], imported


def test_clone_and_to_are_differentiable_tensor_methods() -> None:
    x = tinygen.tensor([1.0, 2.0], requires_grad=True)
    y = x.clone() * 3 + x.to(tinygen.float64).sum().to(tinygen.float32)
    y.sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]  # 3 from the clone, 2 from the converted sum
    assert x.double().dtype == tinygen.float64 and x.cpu().device == "cpu"
