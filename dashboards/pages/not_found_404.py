"""The page shown for addresses that match no page (Dash Pages picks it up by its module name)."""

import dash
from dash import dcc, html

dash.register_page(__name__, nav=False, title="Not found")

layout = html.Section(className="panel not-found", children=[
    html.H2("This page does not exist"),
    html.P("The address matches no page of the cockpit."),
    dcc.Link("Back to the live view", href="/"),
])
