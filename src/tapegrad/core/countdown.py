"""Which leaves with post-accumulate hooks are complete, while backward runs.

PyTorch's engine counts each node's dependencies before a pass; tapegrad's does not need
to (its heap order suffices), except to know when a leaf's gradient is final. So only
while some post-accumulate hook exists, ``Countdown`` counts the edges from the nodes that
lead to the roots into each hooked leaf; the engine counts them down as nodes run, and a
leaf at zero is finished at once (``finish(leaf, gradient)``), the rest of the pass going
on. Leaves whose count never reaches zero (an input's VJP returned None) are finished
with the others at the end of the pass.
"""


class Countdown(dict):
    """{hooked leaf node: edges into it not yet run}, over the graph behind ``roots``."""

    def __init__(self, roots, leaf_grads, finish):
        super().__init__()
        self.leaf_grads, self.finish = leaf_grads, finish
        seen = set()
        stack = [n for n, _ in roots if not n.is_leaf]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            for n in node.next:
                if n is None:
                    continue
                if not n.is_leaf:
                    stack.append(n)
                elif n.post_hooks and not n.watch:
                    self[n] = self.get(n, 0) + 1

    def count_down(self, node):
        """``node`` has run: its edges into hooked leaves are done."""
        for n in node.next:
            left = self.get(n)
            if left is None:
                continue
            if left > 1:
                self[n] = left - 1
                continue
            del self[n]
            g = self.leaf_grads.pop(n, None)
            if g is not None:
                self.finish(n, g)
