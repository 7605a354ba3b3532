from django.core.management.base import BaseCommand

from protection.purge import purge_expired


class Command(BaseCommand):
    help = "Supprime les lots scellés dont toutes les entrées ont dépassé leur durée de conservation."

    def add_arguments(self, parser):
        parser.add_argument("--wet-run", action="store_true", help="Supprimer vraiment (sinon : simulation).")

    def handle(self, *args, wet_run: bool = False, **options):
        verb = "supprimé" if wet_run else "à supprimer"

        def progress(batch_number: int, count: int) -> None:
            self.stdout.write(f"  lot {batch_number} : {count} entrées {verb}s")

        report = purge_expired(wet_run=wet_run, progress=progress)
        summary = f"{len(report.batches)} lot(s), {report.entries} entrée(s) {verb}(s)."
        if wet_run:
            self.stdout.write(self.style.SUCCESS(f"Purge effectuée et journalisée : {summary}"))
        else:
            self.stdout.write(f"Simulation (rien n'est supprimé ; --wet-run pour agir) : {summary}")
