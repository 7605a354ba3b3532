from django.core.management.base import BaseCommand

from protection.purge import purge_expired


class Command(BaseCommand):
    help = "Supprime les lots scellés dont toutes les entrées ont dépassé leur durée de conservation."

    def add_arguments(self, parser):
        parser.add_argument("--wet-run", action="store_true", help="Supprimer vraiment (sinon : simulation).")

    def handle(self, *args, wet_run: bool = False, **options):
        # French agreement: "supprimées" after the purge, "à supprimer" (invariable) before it.
        verb, plural = ("supprimée", "s") if wet_run else ("à supprimer", "")

        def progress(batch_number: int, count: int) -> None:
            self.stdout.write(f"  lot {batch_number} : {count} entrée(s) {verb}{plural and '(s)'}")

        report = purge_expired(wet_run=wet_run, progress=progress)
        summary = f"{len(report.batches)} lot(s), {report.entries} entrée(s) {verb}{plural and '(s)'}."
        if wet_run:
            self.stdout.write(self.style.SUCCESS(f"Purge effectuée et journalisée : {summary}"))
        else:
            self.stdout.write(f"Simulation (rien n'est supprimé ; --wet-run pour agir) : {summary}")
