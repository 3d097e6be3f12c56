"""The configuration as YAML (admin): dump, atomic load as a new version, versions and their diffs."""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app import database
from app.api.common import require_admin
from app.services import catalog, config_versions

blp = Blueprint("config", __name__, url_prefix="/api/config", description="Configuration (admin)")

YAML_BODY = {"content": {"application/yaml": {"schema": {"type": "string"}}}}


class LoadArgs(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "only report what loading would add, change and remove (X-Config-Changes)"})
    clear = fields.Boolean(load_default=False, metadata={"description": "allow an empty configuration"})
    verify = fields.Boolean(load_default=None, metadata={
        "description": "true: refuse a configuration whose programs, scripts or Python functions are missing on "
                       "this machine; false: do not check; unset: check and report the problems in "
                       "X-Config-Warnings (the web server is often not where the workers run)"})


class VersionSchema(Schema):
    number = fields.Integer()
    created = fields.DateTime()
    author = fields.String()
    sha256 = fields.String()
    changes = fields.Dict(metadata={"description": "{added|changed|removed: {backends|tasks|jobs: [names]}}"})


class VersionTextSchema(VersionSchema):
    text = fields.String(metadata={"description": "the configuration as it was loaded"})


class DiffArgs(Schema):
    against = fields.Integer(validate=validate.Range(min=1),
                             metadata={"description": "the older version (default: the one before)"})


class DiffSchema(Schema):
    old = fields.Integer(allow_none=True, metadata={"description": "null: the first version, against nothing"})
    new = fields.Integer()
    diff = fields.String(metadata={"description": "a unified diff of the two versions' normalised dumps"})


@blp.route("")
class Config(MethodView):
    @blp.response(200, content_type="application/yaml")
    def get(self):
        """The whole configuration as YAML."""
        require_admin()
        return Response(catalog.dump(database.session()), mimetype="application/yaml")

    @blp.arguments(LoadArgs, location="query")
    @blp.doc(requestBody=YAML_BODY)
    @blp.response(200, content_type="application/yaml",
                  headers={"X-Config-Version": {"description": "the version stored", "schema": {"type": "integer"}},
                           "X-Config-Changes": {"description": "what the load added (+), changed (~) and removed "
                                                               "(-), separated by '; '",
                                                "schema": {"type": "string"}},
                           "X-Config-Warnings": {"description": "what would fail on this machine (see verify)",
                                                 "schema": {"type": "string"}}})
    def put(self, args):
        """Replace the whole configuration, atomically, as a new version; errors name the document path."""
        token = require_admin()
        session = database.session()
        author = f"token:{token.id}" + (f" {token.name}" if token.name else "")
        verify = args.pop("verify")
        loaded = catalog.load_version(session, request.get_data(), author=author,
                                      verify="warn" if verify is None else verify, **args)
        headers = {"X-Config-Changes": "; ".join(loaded.summary())}
        if loaded.warnings:  # header values are Latin-1: paths are escaped
            headers["X-Config-Warnings"] = "; ".join(loaded.warnings).encode("ascii", "backslashreplace").decode()
        if args["dry_run"]:
            session.rollback()
            return Response(catalog.dump_config(loaded.catalog), mimetype="application/yaml", headers=headers)
        session.commit()
        headers["X-Config-Version"] = str(loaded.version)
        return Response(catalog.dump(session), mimetype="application/yaml", headers=headers)


@blp.route("/versions")
class Versions(MethodView):
    @blp.response(200, VersionSchema(many=True))
    def get(self):
        """Every loaded configuration version, newest first."""
        require_admin()
        return config_versions.all_versions(database.session())


@blp.route("/versions/<int:number>")
class VersionItem(MethodView):
    @blp.response(200, VersionTextSchema)
    def get(self, number: int):
        """One version, with the text that was loaded."""
        require_admin()
        return config_versions.get(database.session(), number)


@blp.route("/versions/<int:number>/diff")
class VersionDiff(MethodView):
    @blp.arguments(DiffArgs, location="query")
    @blp.response(200, DiffSchema)
    def get(self, args, number: int):
        """What changed from an older version (default: the one before; the first version's diff
        is against nothing, every line added) to this one."""
        require_admin()
        if "against" in args:
            old = args["against"]
            return {"old": old, "new": number, "diff": config_versions.diff(database.session(), old, number)}
        compared = config_versions.against_previous(database.session(), number)
        return {"old": compared.previous, "new": number, "diff": compared.diff}
