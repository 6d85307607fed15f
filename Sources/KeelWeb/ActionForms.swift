/// The action forms of a workflow's page. Each is a POST carrying the process's CSRF token in a
/// hidden field; `--http-read-only` renders none.
struct ActionForms {
    let csrfToken: String

    func forms(workflowId id: String, open: Bool) -> String {
        let hidden = "<input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape(csrfToken))\"><input type=\"hidden\" name=\"id\" value=\"\(HTML.escape(id))\">"
        var html = "<h2>Actions</h2>"
        if open {
            html += """
                <form method="post" action="/workflow/signal" class="action" id="signal-form">\(hidden)
                <b>Signal</b><br><label>Name <input name="name" required placeholder="approve"></label><br>
                <label>Payload (JSON)<br><textarea name="payload">null</textarea></label><br><button type="submit">Send signal</button></form>
                <form method="post" action="/workflow/cancel" class="action" id="cancel-form">\(hidden)
                <b>Cancel</b> (the workflow may clean up)<br><label>Reason <input name="reason" placeholder="cancelled from the web UI"></label><br>
                <button type="submit">Cancel workflow</button></form>
                <form method="post" action="/workflow/terminate" class="action" id="terminate-form">\(hidden)
                <b>Terminate</b> (at once, no clean-up)<br><label>Reason <input name="reason" placeholder="terminated from the web UI"></label><br>
                <button type="submit">Terminate workflow</button></form>
                """
        }
        html += """
            <form method="post" action="/workflow/reset" class="action" id="reset-form">\(hidden)
            <b>Reset</b> (run again from a step; completed steps up to it replay)<br><label>Keep steps up to # <input name="toStep" type="number" min="0" required></label><br>
            <label>Reason <input name="reason" placeholder="reset from the web UI"></label><br><button type="submit">Reset workflow</button></form>
            """
        return html
    }
}
