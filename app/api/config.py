"""The configuration as YAML (admin): dump and atomic load."""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from app import database
from app.api.common import require_admin
from app.services import catalog

blp = Blueprint("config", __name__, url_prefix="/api/config", description="Configuration (admin)")

YAML_BODY = {"content": {"application/yaml": {"schema": {"type": "string"}}}}


@blp.route("")
class Config(MethodView):
    @blp.response(200, content_type="application/yaml")
    def get(self):
        """The whole configuration as YAML."""
        require_admin()
        return Response(catalog.dump(database.session()), mimetype="application/yaml")

    @blp.doc(requestBody=YAML_BODY)
    @blp.response(200, content_type="application/yaml")
    def put(self):
        """Replace the whole configuration, atomically; errors name the document path."""
        require_admin()
        session = database.session()
        catalog.load(session, request.get_data())
        session.commit()
        return Response(catalog.dump(session), mimetype="application/yaml")
