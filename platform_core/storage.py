from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed static files whose contents are left as they are.

    django-dsfr pins its CSS and JS with Subresource Integrity hashes of the original bytes; the
    manifest storage's rewriting of url() references inside CSS would change those bytes and the
    browser would refuse the design system. Relative references keep working: the unhashed
    originals are collected too.
    """

    patterns = ()
