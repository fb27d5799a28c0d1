"""Run inside Blender (``blender -b --factory-startup --python import_bvh.py -- BVH OUT F,F``):
import BVH with Blender's own importer (centimetres to metres, Y up to Blender's Z up) and write
the world position of every bone's head at frames F (0-based) as JSON."""

import builtins
import json
import sys

import bpy
from io_anim_bvh import import_bvh

argv = sys.argv[sys.argv.index("--") + 1 :]
source, out, frames = argv[0], argv[1], [int(x) for x in argv[2].split(",")]

# Debian's Blender 3.4 importer opens files in mode "rU", which its Python 3.11 refuses; the
# same importer with the mode it means ("r").
import_bvh.open = lambda f, mode="r", *a, **k: builtins.open(f, mode.replace("U", ""), *a, **k)  # noqa: SIM115

bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_anim.bvh(
    filepath=source, global_scale=0.01, axis_forward="-Z", axis_up="Y", frame_start=1
)
armature = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
heads = {}
for f in frames:
    bpy.context.scene.frame_set(f + 1)
    heads[f] = {b.name: list(armature.matrix_world @ b.head) for b in armature.pose.bones}
with open(out, "w") as fh:
    json.dump({"frames": heads, "fps": bpy.context.scene.render.fps}, fh)
