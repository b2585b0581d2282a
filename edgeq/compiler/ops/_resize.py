"""What RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR share: an NHWC int8 input resized to the constant ``size``
(height, width), the TFLite options ``align_corners`` / ``half_pixel_centers``, and two constant maps (rows, columns)
computed here so the kernel only walks them. Each op gives its map function and its kernel call."""

from __future__ import annotations

from edgeq.compiler.cparams import KernelCall
from edgeq.compiler.ops.base import Layer, dims4


class ResizeLayer(Layer):
    #: what one entry of the maps holds (for the C comment)
    MAP_ROWS = MAP_COLUMNS = ""

    def check_io(self):
        """The (input, output) tensors, refused unless the op supports them; the subclass's own rules."""
        raise NotImplementedError

    def index_map(self, in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
        raise NotImplementedError

    def prepare(self) -> KernelCall:
        x, out = self.check_io()
        self.require_rank(x, (4,), "input")
        size = self.require_const(self.input(1), "size")
        oh, ow = (int(v) for v in size.array().reshape(-1)[:2])
        n, h, w, c = x.shape
        if list(out.shape) != [n, oh, ow, c]:
            raise self.unsupported(f"output {list(out.shape)} is not the input {list(x.shape)} resized to {oh}x{ow}")
        ac = bool(self.op.options.get("align_corners", False))
        hp = bool(self.op.options.get("half_pixel_centers", False))
        p = self.params
        p.update(in_dims=dims4(x.shape), oh=oh, ow=ow)
        p["y_map"] = self.ctx.add_const("y_map", "int32_t", self.index_map(h, oh, ac, hp),
                                        comment=f"layer {self.index} {self.MAP_ROWS}")
        p["x_map"] = self.ctx.add_const("x_map", "int32_t", self.index_map(w, ow, ac, hp),
                                        comment=f"layer {self.index} {self.MAP_COLUMNS}")
        return self._call()

    def reads(self) -> list[int]:
        return [self.op.inputs[0]]

    def _call(self) -> KernelCall:
        """The kernel call, from the parameters prepare() set (in_dims, oh, ow, y_map, x_map)."""
        raise NotImplementedError
