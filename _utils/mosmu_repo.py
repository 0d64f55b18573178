"""Text of the files a node's package manager reads during a mosmu run: repo files, pins.

Everything comes from the plan (which comes from the catalog row): file names, templates,
suites, priorities. Values were validated when the plan was built; templates may only use
the placeholders ``mosmu_catalog.TEMPLATE_FIELDS``.
"""

HEADER = "# Managed by mosmu (Salt). MOS maintenance-update repositories only.\n"
KEY_FILE = "mosmu-mu.asc"       # the tree's signing key, beside the repo files' directory


def gpgkey_lines(key_path):
    """yum lines of the ``{gpgkey}`` placeholder for a signed tree: the key file, and
    ``repo_gpgcheck=1`` so ``repomd.xml.asc`` is checked too (the mirror sync refuses a
    keyed yum tree without it). Verified with dnf 4.14 ``--installroot``: both checks pass
    with the right key, and ``-y`` imports the key into the root's rpm database; a wrong key
    fails with "repomd.xml GPG signature verification error" (repo check) or "GPG check
    FAILED" (rpm check)."""
    return f"gpgkey=file://{key_path}\nrepo_gpgcheck=1\n"


def repo_files(plan, key_path=None):
    """``{file name: text}``: one repo file per MU repo of the plan.

    :param plan: a :class:`mosmu_plan.Plan`
    :param key_path: absolute path of the plan's signing key as the node's yum/dnf opens it
        (``gpgkey=file://``; see ``mosmu_yum.Yum.files``), if any
    """
    options = "[trusted=yes] " if plan.trusted and plan.backend == "apt" else ""
    signed = bool(plan.key and key_path and not plan.trusted)
    out = {}
    for repo in plan.repos:
        text = plan.repo_text.format(
            repo=repo.name, suite=repo.suite, base=plan.repo_url.rstrip("/"), path=plan.path,
            components=plan.components, options=options, gpgcheck="1" if signed else "0",
            gpgkey=gpgkey_lines(key_path) if signed else "")
        out[repo.file] = HEADER + text
    return out


def apt_preferences(plan):
    """apt pins: each MU suite at its catalog priority (holdback 1100 above updates 1050)."""
    stanzas = [f"Package: *\nPin: release a={repo.suite}\nPin-Priority: {repo.priority}\n"
               for repo in plan.repos if repo.priority is not None]
    return HEADER + "\n".join(stanzas) if stanzas else None
