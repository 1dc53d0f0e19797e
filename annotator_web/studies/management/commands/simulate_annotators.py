"""Simulated annotators working on a synthetic project through the REST API (also a load generator)."""

import os

from django.core.management.base import BaseCommand, CommandError

from annotator_web.data.models import Project
from annotator_web.data.truth import TruthCache
from annotator_web.studies.simulate import AutoReviewer, SimulatedAnnotator, sim_users
from pipeline.synthetic.annotator import Behaviour


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--annotators", type=int, default=3)
        parser.add_argument(
            "--click-noise-px",
            default="0",
            help="Gaussian click noise in view pixels: one value, or one per annotator (2,5,8)",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}",
                            help="the running web app")  # fmt: skip
        parser.add_argument("--review", action="store_true", help="also a reviewer that accepts everything")
        parser.add_argument("--boundary-noise-px", type=float, default=1.0)
        parser.add_argument("--confusion", type=float, default=0.0, help="chance of a left/right part mix-up")
        parser.add_argument("--wrong-side", type=float, default=0.0, help="chance of clicking the other side")
        parser.add_argument("--not-visible", type=float, default=0.0, help="chance of a visible point marked not")
        parser.add_argument("--think-seconds", type=float, default=0.0)
        parser.add_argument("--idle-seconds", type=float, default=15.0, help="stop after this long without work")
        parser.add_argument("--max-points-tasks", type=int, help="stage-2 tasks per annotator at most")

    def handle(self, *args, **o):
        from annotator_web.core.body_assets import click_mapper

        project = Project.objects.filter(name=o["project"]).first()
        if project is None:
            raise CommandError(f"no project named {o['project']!r}")
        if not project.synthetic:
            raise CommandError(f"project {project.name} is not synthetic: simulated annotators need its truth")
        mapper = click_mapper(project.body_model)
        if mapper is None:
            raise CommandError(f"the {project.body_model} body assets are not built yet")
        try:
            noise = [float(v) for v in str(o["click_noise_px"]).split(",")]
        except ValueError:
            raise CommandError("--click-noise-px takes numbers: 3 or 0,2,5") from None
        if len(noise) not in (1, o["annotators"]):
            raise CommandError(f"--click-noise-px gives {len(noise)} values for {o['annotators']} annotators")
        truths = TruthCache()
        workers = []
        for k, (name, token) in enumerate(sim_users(o["annotators"])):
            behaviour = Behaviour(
                click_noise_px=noise[k if len(noise) > 1 else 0], boundary_noise_px=o["boundary_noise_px"],
                confusion=o["confusion"], wrong_side=o["wrong_side"], not_visible=o["not_visible"],
                think_seconds=o["think_seconds"],
            )  # fmt: skip
            workers.append(SimulatedAnnotator(o["url"], token, name, project.name, truths, behaviour,
                                              seed=o["seed"] * 1000 + k, idle_seconds=o["idle_seconds"],
                                              max_points_tasks=o["max_points_tasks"], mapper=mapper))  # fmt: skip
        reviewer = None
        if o["review"]:
            reviewer = AutoReviewer(o["url"], sim_users(1, "reviewer")[0][1], project.name)
            reviewer.start()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if reviewer:
            reviewer.stop.set()
            reviewer.join()
        failed = False
        for w in workers:
            t = w.tally
            self.stdout.write(f"{w.name} (click noise {w.behaviour.click_noise_px} px): {t.masks} mask tasks, "
                              f"{t.points_tasks} point tasks, {t.clicks} clicks, {t.marked} marked")  # fmt: skip
            for e in t.errors[:5]:
                self.stderr.write(f"  {w.name}: {e}")
            failed |= bool(t.errors)
        if reviewer:
            self.stdout.write(f"reviewer: {reviewer.accepted} tasks accepted")
        if failed:
            raise CommandError("some simulated annotators hit errors (above)")
